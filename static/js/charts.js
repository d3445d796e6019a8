/* The staff pages' charts, drawn with uPlot (static/vendor/uplot-1.6.32, MIT) from data the page
 * embeds with Django's json_script: <div data-chart="ID"> pictures the JSON of
 * <script id="ID" type="application/json">. The data's shape (stations/templatetags/charts.py,
 * stations/views.py): {kind: "daily" | "session", zone, x_title, x, series: [{label, unit, style, values}]},
 * x being days ("YYYY-MM-DD") for "daily" and epoch seconds for "session".
 *
 * The tables beside the charts hold the figures; a chart only pictures them. Nothing here is inline
 * (the Content-Security-Policy allows this server's script files only) and uPlot sets sizes through
 * element.style, which the policy allows (it forbids style attributes written in markup).
 * Dates are shown in the site's time zone (`zone`), in the page's language (<html lang>).
 */
(function () {
  "use strict";

  var HEIGHT = 280;
  var COLOURS = ["#14625a", "#c2571a", "#3a5bbf", "#8a3ca8"];
  var BAR_FILL = "rgba(20, 98, 90, 0.45)";
  var DAY_STEPS = [1, 2, 3, 5, 7, 14, 28, 30, 61, 91, 183];

  function language() {
    return document.documentElement.lang || "en";
  }

  function numberText(unit) {
    var format = new Intl.NumberFormat(language(), { maximumFractionDigits: 3 });
    return function (value) {
      return value == null ? "—" : format.format(value) + " " + unit;
    };
  }

  // A day "2027-03-01" is a calendar date, not a moment: formatted at UTC so no zone moves it.
  function dayText(style) {
    var format = new Intl.DateTimeFormat(language(), Object.assign({ timeZone: "UTC" }, style));
    return function (day) {
      var parts = day.split("-").map(Number);
      return format.format(new Date(Date.UTC(parts[0], parts[1] - 1, parts[2])));
    };
  }

  // Times as the pages write them: 24-hour clock, in the site's zone.
  function momentText(zone, style) {
    var format = new Intl.DateTimeFormat(language(), Object.assign({ timeZone: zone, hourCycle: "h23" }, style));
    return function (seconds) {
      return format.format(new Date(seconds * 1000));
    };
  }

  function fromZero(self, min, max) {
    var top = max > 0 ? max * 1.1 : 1;
    return [Math.min(0, min || 0), top];
  }

  // One y scale and axis per unit: the first on the left with the grid, the others on the right.
  function unitAxes(series) {
    var units = [];
    var axes = [];
    var scales = {};
    series.forEach(function (one) {
      if (units.indexOf(one.unit) !== -1) return;
      units.push(one.unit);
      scales[one.unit] = { range: fromZero };
      axes.push({
        scale: one.unit,
        label: one.label,
        side: units.length === 1 ? 3 : 1,
        grid: { show: units.length === 1 },
        size: 64,
        values: function (self, splits) {
          var format = new Intl.NumberFormat(language(), { maximumFractionDigits: 2 });
          return splits.map(function (value) { return format.format(value); });
        },
      });
    });
    return { scales: scales, axes: axes };
  }

  function seriesOptions(one, index) {
    var colour = COLOURS[index % COLOURS.length];
    var options = {
      label: one.label,
      scale: one.unit,
      stroke: colour,
      width: 2,
      spanGaps: true,
      value: (function (text) { return function (self, value) { return text(value); }; })(numberText(one.unit)),
    };
    if (one.style === "bars") {
      options.fill = BAR_FILL;
      options.width = 1;
      options.paths = uPlot.paths.bars({ size: [0.6, 48] });
      options.points = { show: false };
    }
    return options;
  }

  function dailyX(data) {
    var shortDay = dayText({ month: "numeric", day: "numeric" });
    var longDay = dayText({ year: "numeric", month: "short", day: "numeric", weekday: "short" });
    var last = data.x.length - 1;
    return {
      values: data.x.map(function (day, index) { return index; }),
      scale: { time: false, range: function () { return [-0.5, last + 0.5]; } },
      axis: {
        label: data.x_title,
        incrs: DAY_STEPS,
        space: 56,
        values: function (self, splits) {
          return splits.map(function (index) {
            return Number.isInteger(index) && data.x[index] ? shortDay(data.x[index]) : "";
          });
        },
      },
      legend: function (self, index) { return index == null ? "—" : longDay(data.x[index]); },
    };
  }

  function sessionX(data) {
    var span = data.x[data.x.length - 1] - data.x[0];
    var tick = span > 20 * 3600
      ? { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" }
      : { hour: "2-digit", minute: "2-digit" };
    var tickText = momentText(data.zone, tick);
    var fullText = momentText(data.zone, {
      year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
    });
    return {
      values: data.x,
      scale: { time: true },
      axis: {
        label: data.x_title,
        space: 80,
        values: function (self, splits) { return splits.map(tickText); },
      },
      legend: function (self, seconds) { return seconds == null ? "—" : fullText(seconds); },
    };
  }

  function options(data, x, width) {
    var y = unitAxes(data.series);
    var scales = Object.assign({ x: x.scale }, y.scales);
    return {
      width: width,
      height: HEIGHT,
      // Ticks on whole hours and days of the site's zone, not the browser's.
      tzDate: function (seconds) { return uPlot.tzDate(new Date(seconds * 1000), data.zone); },
      scales: scales,
      axes: [x.axis].concat(y.axes),
      series: [{ label: data.x_title, value: x.legend }].concat(data.series.map(seriesOptions)),
      cursor: { drag: { x: false, y: false } },
    };
  }

  function draw(element) {
    if (element.uplot) return; // a second copy of this file on the page draws nothing twice
    var source = document.getElementById(element.getAttribute("data-chart"));
    if (!source) return;
    var data = JSON.parse(source.textContent);
    var x = data.kind === "daily" ? dailyX(data) : sessionX(data);
    var columns = [x.values].concat(data.series.map(function (one) { return one.values; }));
    var plot = new uPlot(options(data, x, element.clientWidth), columns, element);
    element.uplot = plot; // for the browser tests: the chart exists and what it drew
    if (window.ResizeObserver) {
      new ResizeObserver(function () {
        if (element.clientWidth && element.clientWidth !== plot.width) {
          plot.setSize({ width: element.clientWidth, height: HEIGHT });
        }
      }).observe(element);
    }
  }

  function drawAll() {
    if (!window.uPlot) return;
    document.querySelectorAll("[data-chart]").forEach(draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();
