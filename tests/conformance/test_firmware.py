"""OCTT 1.6, central system: Firmware Management profile (firmware updates and diagnostics), from the
charger page; the charger's status notifications are answered and the latest is kept on the charger."""

import pytest
from ocpp.v16 import call

from stations.models import Charger
from tests.conformance.kit import as_charger, message_of, operate
from tests.factories import register_charger
from tests.ocpp_client import orm

FIRMWARE = "https://firmware.example/octt-2.0.bin"


@pytest.mark.parametrize(
    "progress",
    [
        ["Downloading", "Downloaded", "Installing", "boot", "Installed"],
        ["Downloading", "DownloadFailed"],
        ["Downloading", "Downloaded", "Installing", "boot", "InstallationFailed"],
    ],
    ids=["TC_044_1-installed", "TC_044_2-download-failed", "TC_044_3-installation-failed"],
)
def test_it_updates_firmware_and_follows_its_progress(remote_csms, operator, progress):
    """TC_044_1_CSMS Firmware Update – Download and Install, TC_044_2_CSMS – Download Failed, TC_044_3_CSMS –
    Installation Failed: UpdateFirmware.req with the location and a retrieveDate; every
    FirmwareStatusNotification answered (and the reboot's BootNotification Accepted); the last kept."""
    register_charger("CP-1")

    async def scenario(cp):
        page = await operate(operator, "CP-1", "update-firmware", location=FIRMWARE)
        seen = []
        for step in progress:
            if step == "boot":
                assert (await cp.boot()).status == "Accepted"
                continue
            await cp.send(call.FirmwareStatusNotification(status=step))
            seen.append(await orm(lambda: Charger.objects.get().firmware_status))
        return page, cp.calls_of("UpdateFirmware"), seen

    page, sent, seen = as_charger(remote_csms, "CP-1", scenario)

    assert sent[0]["location"] == FIRMWARE and sent[0]["retrieveDate"].endswith("Z")
    assert message_of(page) == "Update firmware: accepted"
    assert seen == [step for step in progress if step != "boot"]  # each kept before it was answered


@pytest.mark.parametrize(
    "progress",
    [["Uploading", "Uploaded"], ["Uploading", "UploadFailed"]],
    ids=["TC_045_1-uploaded", "TC_045_2-upload-failed"],
)
def test_it_asks_for_diagnostics_and_follows_the_upload(remote_csms, operator, progress):
    """TC_045_1_CSMS Get Diagnostics of a Charge Point, TC_045_2_CSMS – Upload Failed: GetDiagnostics.req
    with the upload location; the file name answered is kept; every DiagnosticsStatusNotification answered,
    the last kept."""
    register_charger("CP-1")

    async def scenario(cp):
        page = await operate(
            operator, "CP-1", "get-diagnostics", location="ftp://diagnostics.example/upload/"
        )
        for step in progress:
            assert await cp.send(call.DiagnosticsStatusNotification(status=step)) is not None
        return page, cp.calls_of("GetDiagnostics")

    page, sent = as_charger(remote_csms, "CP-1", scenario)

    assert sent == [{"location": "ftp://diagnostics.example/upload/"}]
    assert message_of(page) == "Upload diagnostics: accepted"
    assert Charger.objects.get().diagnostics_status == progress[-1]
