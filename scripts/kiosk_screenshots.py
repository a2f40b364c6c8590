"""Screenshots of every kiosk screen, normal and elder mode, in Chinese and English.

Runs the real API over a fresh demo hospital and the real Kivy app under Xvfb (Mesa GL),
touches through each screen as a patient would and saves PNGs:

    .venv/bin/python scripts/kiosk_screenshots.py --out docs/kiosk
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Generator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.ui.kiosk_support import Driver, kiosk_backend, run_kiosk, xvfb  # noqa: E402

#: Zhang (张小三) has a cardiology and a lab appointment today, bills and two reports.
PATIENT_NUMBER, BIRTH = "1000000001", "19480302"
SCREENS = ("welcome", "identify", "appointments", "bills", "reports", "directions", "feedback")


def tour(d: Driver) -> Generator[float, None, None]:
    """Visit every screen; save <out>/<lang>-<mode>-<screen>.png."""
    out = Path(os.environ["KIOSK_SHOTS_OUT"])
    prefix = os.environ["KIOSK_SHOTS_PREFIX"]
    yield from d.until(lambda: d.app.online)
    yield from d.screenshot(out / f"{prefix}-1-welcome.png")
    yield from d.tap("start")
    for key in PATIENT_NUMBER:
        yield from d.tap(f"key_{key}")
    yield from d.tap("field_birth")
    for key in BIRTH[:6]:
        yield from d.tap(f"key_{key}")
    yield from d.screenshot(out / f"{prefix}-2-identify.png")
    for key in BIRTH[6:]:
        yield from d.tap(f"key_{key}")
    yield from d.tap("confirm")
    yield from d.until(lambda: d.screen() == "appointments")
    checkin = next(w.tag for w in d.visible() if getattr(w, "tag", "").startswith("checkin_"))
    yield from d.tap(checkin)
    yield from d.screenshot(out / f"{prefix}-3-appointments.png")
    yield from d.tap("nav_bills")
    yield from d.screenshot(out / f"{prefix}-4-bills.png")
    yield from d.tap("nav_reports")
    report = next(w.tag for w in d.visible() if getattr(w, "tag", "").startswith("report_"))
    yield from d.tap(report)
    yield from d.screenshot(out / f"{prefix}-5-reports.png")
    yield from d.tap("nav_directions")
    yield from d.tap("next_page")  # cardiology: floor 1 to the lift, then floor 2
    yield from d.screenshot(out / f"{prefix}-6-directions.png")
    yield from d.tap("nav_finish")
    yield from d.tap("star_5")
    yield from d.tap("chip_easy")
    yield from d.screenshot(out / f"{prefix}-7-feedback.png")
    yield from d.tap("send")
    yield from d.screenshot(out / f"{prefix}-8-thanks.png")
    yield from d.tap("to_start")
    yield from d.tap("start")
    d.app.idle.idle = 0.1  # show the idle countdown once
    d.app.idle.countdown = 60
    yield from d.until(lambda: any(getattr(w, "tag", "") == "still_here" for w in d.visible()))
    yield from d.screenshot(out / f"{prefix}-9-idle.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/kiosk"), help="PNG folder")
    parser.add_argument("--lang", choices=("zh", "en"), action="append", help="default: both")
    parser.add_argument(
        "--mode", choices=("normal", "elder"), action="append", help="default: both"
    )
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, xvfb() as display:
        for lang in args.lang or ("zh", "en"):
            for mode in args.mode or ("normal", "elder"):
                # A fresh hospital each time: the check-in and print state start over.
                work = Path(tmp) / f"{lang}-{mode}"
                with kiosk_backend(work) as backend:
                    run = run_kiosk(
                        "scripts.kiosk_screenshots:tour",
                        display=display,
                        workdir=work,
                        env={
                            "CAREDGE_KIOSK_API_URL": backend.api_url,
                            "CAREDGE_KIOSK_TOKEN": backend.demo.kiosk_token,
                            "CAREDGE_KIOSK_LANGUAGE": lang,
                            "CAREDGE_KIOSK_ELDER": str(mode == "elder").lower(),
                            "CAREDGE_KIOSK_PRINT_DIR": str(work / "prints"),
                            "KIOSK_SHOTS_OUT": str(out),
                            "KIOSK_SHOTS_PREFIX": f"{lang}-{mode}",
                        },
                    )
                if not run.ok:
                    print(run.error, run.records, sep="\n", file=sys.stderr)
                    return 1
                print(f"{lang}-{mode}: first frame {run.records['first_frame_s']:.2f} s")
    print(f"screenshots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
