#!/usr/bin/env python3
"""Make the IVR's sound files from telephony/sounds/prompts.toml (docs/ivr.md, ADR 0040).

Every prompt is spoken by espeak-ng (Debian `espeak-ng`: Mandarin voice `cmn`, English
`en-us`) and converted by sox (Debian `sox` + `libsox-fmt-all` for GSM) to 8 kHz mono GSM,
Asterisk's `format_gsm`, in Asterisk's layout: telephony/sounds/<lang>/<name>.gsm. The
music on hold is a tone sequence made by sox alone: telephony/sounds/moh/default.gsm.

Idempotent: a file is written only when its bytes change (espeak-ng and sox without
dither are deterministic), and files no longer in prompts.toml are removed. `--check`
only reports what is missing or stale, without writing (exit 1 if anything is).

    python tools/make_prompts.py [--check] [--sounds DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SOUNDS = ROOT / "telephony" / "sounds"
RATE = "8000"


def _run(*args: str) -> None:
    # our own argument lists (espeak-ng, sox), never a shell
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603


def _parts(value: Any, language: str) -> list[tuple[str, str]]:
    """(language, text) parts of one prompt: a text, or a list of texts and {lang = text}."""
    items = value if isinstance(value, list) else [value]
    parts: list[tuple[str, str]] = []
    for item in items:
        if isinstance(item, str):
            parts.append((language, item))
        elif isinstance(item, dict) and len(item) == 1:
            ((lang, text),) = item.items()
            parts.append((str(lang), str(text)))
        else:
            raise ValueError(f"a prompt part is a text or {{lang = text}}, got {item!r}")
    return parts


_ZH_DIGITS = str.maketrans("0123456789", "零一二三四五六七八九")
_ZH_PUNCTUATION = {"，": ",", "。": ".", "：": ",", "；": ",", "、": ",", "！": ".", "？": "?"}


def pinyin(text: str) -> str:
    """Hanzi to tone-numbered pinyin ("您好" -> "nin2 hao3") for espeak-ng's pinyin voice.

    Debian's espeak-ng has no Mandarin dictionary for Han characters (its `cmn` voice
    spells them as English letter names), but reads pinyin with tone numbers well.
    """
    try:
        from pypinyin import Style, lazy_pinyin
    except ImportError as exc:  # the tools extra: pip install -e '.[prompts]'
        raise SystemExit("pypinyin is missing: pip install 'pypinyin>=0.55'") from exc
    words = lazy_pinyin(text.translate(_ZH_DIGITS), style=Style.TONE3, neutral_tone_with_five=True)
    return " ".join(_ZH_PUNCTUATION.get(w.strip(), w.strip()) for w in words if w.strip())


def _speak(voices: dict[str, Any], language: str, text: str, out: Path) -> None:
    voice = voices[language]
    if voice.get("pinyin"):
        text = pinyin(text)
    _run(
        "espeak-ng",
        "-v",
        str(voice["voice"]),
        "-s",
        str(voice.get("speed", 150)),
        "-p",
        str(voice.get("pitch", 50)),
        "-w",
        str(out),
        text,
    )


def _to_gsm(inputs: list[Path], out: Path) -> None:
    # -D: no dither, so the same text gives the same bytes; gain -n: peak at -3 dBFS;
    # silence trims espeak-ng's lead-in so digits read back briskly
    _run(
        "sox",
        "-D",
        *(str(p) for p in inputs),
        "-r",
        RATE,
        "-c",
        "1",
        str(out),
        "silence",
        "1",
        "0.02",
        "0.5%",
        "reverse",
        "silence",
        "1",
        "0.02",
        "0.5%",
        "reverse",
        "pad",
        "0.05",
        "0.1",
        "gain",
        "-n",
        "-3",
    )


def _make_prompt(voices: dict[str, Any], language: str, value: Any, out: Path, tmp: Path) -> None:
    wavs: list[Path] = []
    for i, (lang, text) in enumerate(_parts(value, language)):
        wav = tmp / f"part{i}.wav"
        _speak(voices, lang, text, wav)
        wavs.append(wav)
    if len(wavs) > 1:  # every part at one rate before sox joins them
        joined = []
        for i, wav in enumerate(wavs):
            same = tmp / f"same{i}.wav"
            _run("sox", "-D", str(wav), "-r", "22050", "-c", "1", str(same))
            joined.append(same)
        wavs = joined
    _to_gsm(wavs, out)


def _make_moh(spec: dict[str, Any], out: Path, tmp: Path) -> None:
    notes: list[Path] = []
    length = float(spec.get("note_seconds", 0.5))
    for i, freq in enumerate(spec["notes"]):
        note = tmp / f"note{i}.wav"
        _run(
            "sox",
            "-D",
            "-n",
            "-r",
            RATE,
            "-c",
            "1",
            "-b",
            "16",
            str(note),
            "synth",
            str(length),
            "sine",
            str(freq),
            "sine",
            str(float(freq) * 2),
            "remix",
            "-",
            "fade",
            "q",
            "0.03",
            str(length),
            str(length * 0.6),
        )
        notes.append(note)
    _run(
        "sox", "-D", *(str(n) for n in notes), str(out), "gain", "-n", str(spec.get("gain_db", -14))
    )


def build(sounds: Path, *, check: bool) -> list[str]:
    """Make every file; returns what changed (or, with check, what would change)."""
    spec = tomllib.loads((sounds / "prompts.toml").read_text(encoding="utf-8"))
    voices: dict[str, Any] = spec["voices"]
    wanted: dict[Path, tuple[str, Any] | None] = {}
    for name, texts in spec["prompts"].items():
        for language, value in texts.items():
            if language not in voices:
                raise ValueError(f"{name}: no voice for language {language!r}")
            wanted[sounds / language / f"{name}.gsm"] = (language, value)
    moh = spec.get("moh")
    if moh:
        wanted[sounds / f"{moh['file']}.gsm"] = None
    changed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="prompts-") as tmpdir:
        tmp = Path(tmpdir)
        for path, job in sorted(wanted.items()):
            fresh = tmp / "out.gsm"
            fresh.unlink(missing_ok=True)
            if job is None:
                _make_moh(moh or {}, fresh, tmp)
            else:
                _make_prompt(voices, job[0], job[1], fresh, tmp)
            data = fresh.read_bytes()
            if path.exists() and path.read_bytes() == data:
                continue
            changed.append(str(path.relative_to(sounds)))
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
    stale = [
        p
        for p in sorted(sounds.rglob("*.gsm"))
        if p not in wanted  # a prompt removed from prompts.toml
    ]
    for path in stale:
        changed.append(f"{path.relative_to(sounds)} (removed)")
        if not check:
            path.unlink()
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="report, write nothing")
    parser.add_argument("--sounds", type=Path, default=SOUNDS, help="the sounds folder")
    args = parser.parse_args(argv)
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            print(
                f"{tool} is missing: apt-get install espeak-ng sox libsox-fmt-all", file=sys.stderr
            )
            return 2
    changed = build(args.sounds, check=args.check)
    for line in changed:
        print(("stale: " if args.check else "made: ") + line)
    total = sum(p.stat().st_size for p in args.sounds.rglob("*.gsm"))
    print(f"{len(changed)} changed; sounds total {total / 1024:.0f} KB")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
