// The language switch submits itself when a language is chosen; without JavaScript its button does.
document.addEventListener("DOMContentLoaded", () => {
  for (const select of document.querySelectorAll("select[data-submit-on-change]")) {
    select.form.querySelector(".js-hidden")?.setAttribute("hidden", "");
    select.addEventListener("change", () => select.form.submit());
  }
});
