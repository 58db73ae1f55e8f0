"""Which encoding a text file is in, decided over the whole file, and a UTF-8 copy when needed.

The first megabyte gives a guess (byte-order marks, UTF-16's NUL pattern, strict UTF-8, else a
statistical choice between GB18030, Big5 and cp1252). The guess is then held against every
line: a file that is UTF-8 in some lines and GBK in others is refused with both line numbers,
because decoding it either way garbles one part (北京客户 → 鍖椾含...). Valid UTF-8 is never
re-decoded as GB18030.
"""
from __future__ import annotations

import codecs
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from kam_analytics.errors import IngestError
from kam_analytics.tmpfiles import owned_prefix

CHUNK_BYTES = 1 << 22
LABELS = {"utf-8-sig": "UTF-8 (BOM)", "utf-8": "UTF-8", "gb18030": "GB18030", "big5": "Big5", "cp1252": "cp1252",
          "utf-16": "UTF-16", "utf-16-le": "UTF-16LE", "utf-16-be": "UTF-16BE"}


@dataclass
class EncodingChoice:
    """A codec and why it was chosen (``reason`` is an i18n key suffix: encoding_reason_<reason>)."""

    codec: str
    reason: str

    @property
    def label(self) -> str:
        return LABELS.get(self.codec, self.codec)

    @property
    def native(self) -> bool:
        """DuckDB reads the file as it is (it reads UTF-8 only)."""
        return self.codec in ("utf-8", "utf-8-sig")


def detect_encoding(sample: bytes, truncated: bool = True) -> EncodingChoice:
    """The encoding of a text sample.

    Order: BOMs; UTF-16 without BOM (NUL bytes in every other position); strict UTF-8
    (a sample cut mid-character is trimmed first); else the best statistical guess among
    GB18030 (a superset of GBK/GB2312), Big5 and cp1252 that decodes the sample strictly.
    """
    if sample.startswith(codecs.BOM_UTF8):
        return EncodingChoice("utf-8-sig", "bom")
    if sample.startswith(codecs.BOM_UTF16_LE) or sample.startswith(codecs.BOM_UTF16_BE):
        return EncodingChoice("utf-16", "bom")
    pairs = len(sample) // 2
    if pairs >= 2:
        even_nul, odd_nul = sample[0::2].count(0), sample[1::2].count(0)
        if odd_nul > 0.3 * pairs and even_nul < 0.05 * pairs:
            return EncodingChoice("utf-16-le", "utf16_nul")
        if even_nul > 0.3 * pairs and odd_nul < 0.05 * pairs:
            return EncodingChoice("utf-16-be", "utf16_nul")
    if truncated and b"\n" in sample:
        sample = sample[: sample.rfind(b"\n") + 1]
    try:
        sample.decode("utf-8")
        return EncodingChoice("utf-8", "utf8_valid")
    except UnicodeDecodeError:
        pass
    return EncodingChoice(guess_legacy(sample), "legacy_guess")


def _cjk_ratio(text: str) -> float:
    non_ascii = [c for c in text if ord(c) > 127]
    if not non_ascii:
        return 0.0
    common = sum(1 for c in non_ascii if "\u4e00" <= c <= "\u9fff" or "\u3000" <= c <= "\u303f" or "\uff00" <= c <= "\uffef")
    return common / len(non_ascii)


def _gb2312_common_share(text: str) -> float:
    """Share of the non-ASCII characters of ``text`` that are GB2312 punctuation or its 3,755
    level-1 (most common) hanzi. Simplified Chinese read as GB18030 is nearly all of them; the
    same bytes read as Big5, or Big5 text read as GB18030, give far rarer characters."""
    non_ascii = [c for c in text if ord(c) > 127]
    if not non_ascii:
        return 0.0
    common = 0
    for char in non_ascii:
        try:
            lead = char.encode("gb2312")[0]
        except UnicodeEncodeError:
            continue
        common += 0xA1 <= lead <= 0xA3 or 0xB0 <= lead <= 0xD7
    return common / len(non_ascii)


def guess_legacy(sample: bytes) -> str:
    """GB18030, Big5 or cp1252: the one that decodes ``sample`` and reads as real text.

    A short sample ("华东" is four bytes) can read as Chinese in both GB18030 and Big5: it is
    GB18030 when that reading is nearly all common simplified characters (``_gb2312_common_share``
    ≥ 0.9), before any statistical guess, which errs on so few bytes."""
    decodable = {}
    for encoding in ("gb18030", "big5", "cp1252"):
        try:
            decodable[encoding] = sample.decode(encoding)
        except UnicodeDecodeError:
            continue
    if not decodable:
        return "gb18030"  # decodes nearly anything; odd bytes become U+FFFD and are counted
    if len(decodable) == 1:
        return next(iter(decodable))
    if "gb18030" in decodable and _gb2312_common_share(decodable["gb18030"]) >= 0.9:
        return "gb18030"
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    guess = (best.encoding if best else "").lower()
    if guess.startswith(("gb", "hz", "chinese")) and "gb18030" in decodable:
        return "gb18030"
    if guess.startswith("big5") and "big5" in decodable:
        return "big5"
    # Chinese read with the right codec is almost all common CJK; with the wrong one it is not.
    ratios = {enc: _cjk_ratio(text) for enc, text in decodable.items() if enc != "cp1252"}
    if ratios:
        best_cjk = max(ratios, key=ratios.get)
        if ratios[best_cjk] >= 0.9:
            if best_cjk == "big5" and ratios.get("gb18030", 0) >= 0.9:
                return "gb18030" if not guess.startswith("big5") else "big5"
            return best_cjk
    if "cp1252" in decodable:
        return "cp1252"
    return next(iter(decodable))


def non_ascii_sample(path: Path, limit: int = 1 << 20) -> bytes:
    """Up to ``limit`` bytes of the lines that contain non-ASCII bytes, from the whole file."""
    out = bytearray()
    with open(path, "rb") as fh:
        for line in fh:
            if not line.isascii():
                out += line
                if len(out) >= limit:
                    break
    return bytes(out)


def _is_utf8_text(line: bytes, legacy: str) -> bool:
    """A non-ASCII line that is UTF-8 text, not legacy bytes that happen to decode as UTF-8:
    in a Chinese file its characters must be Chinese; cp1252 text almost never forms UTF-8."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return legacy == "cp1252" or _cjk_ratio(text) >= 0.9


def _first_line(path: Path, predicate) -> int | None:
    """The 1-based number of the first line for which ``predicate(bytes)`` holds."""
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, start=1):
            if predicate(line):
                return number
    return None


def mixed_encoding_error(path: Path, legacy: str, name: str) -> IngestError:
    """The refusal for a file with UTF-8 lines and ``legacy`` lines, naming one of each."""
    utf8_line = _first_line(path, lambda b: not b.isascii() and _is_utf8_text(b, legacy))
    other_line = _first_line(path, lambda b: not b.isascii() and not _is_utf8_text(b, legacy))
    return IngestError("file_mixed_encoding", file=name, utf8_line=utf8_line or "?", other_line=other_line or "?",
                       other=LABELS.get(legacy, legacy))


def after_invalid_utf8(path: Path, name: str) -> EncodingChoice:
    """The encoding of a file whose first megabyte was UTF-8 but a later byte is not.

    If any non-ASCII line is UTF-8 text, the file mixes two encodings and is refused; if every
    non-ASCII line is in one legacy encoding (the UTF-8 start was plain ASCII), that is it."""
    legacy = guess_legacy(non_ascii_sample(path))
    if legacy in ("utf-8", "utf-8-sig"):
        legacy = "gb18030"
    if _first_line(path, lambda b: not b.isascii() and _is_utf8_text(b, legacy)) is not None:
        raise mixed_encoding_error(path, legacy, name)
    return EncodingChoice(legacy, "legacy_after_ascii")


@dataclass
class Transcoded:
    """A UTF-8 copy of a file: where it is, what was replaced or removed on the way."""

    path: Path
    replaced: int = 0  # undecodable characters replaced by U+FFFD
    nul_lines: list[int] = field(default_factory=list)  # lines (1-based) from which NUL bytes were removed
    lines: int = 0  # lines with a value written (whitespace layouts only)


def transcode(path: Path, choice: EncodingChoice, tmp_dir: Path | None, name: str, splitter=None) -> Transcoded:
    """Stream ``path`` into a UTF-8 temp file in ``tmp_dir`` (constant memory).

    NUL bytes are removed (and the lines named); with ``splitter`` (a whitespace layout) each
    line is re-written tab-separated and lines without a value are left out. For a legacy
    encoding, a line that is UTF-8 text stops the copy: the file mixes encodings."""
    tmp_dir = Path(tmp_dir or tempfile.gettempdir())
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(suffix=".csv", prefix=owned_prefix("transcode"), dir=tmp_dir)
    out = Transcoded(Path(temp_name))
    legacy = not choice.native and not choice.codec.startswith("utf-16")
    decoder = codecs.getincrementaldecoder(choice.codec)(errors="replace")
    line_number = 0
    try:
        with open(path, "rb") as src, os.fdopen(fd, "w", encoding="utf-8", newline="") as dst:
            pending = b""
            while True:
                raw = src.read(CHUNK_BYTES)
                final = not raw
                data = pending + raw
                if not final:
                    cut = data.rfind(b"\n")
                    if cut < 0:
                        pending = data
                        continue
                    data, pending = data[: cut + 1], data[cut + 1:]
                if legacy and not data.isascii() and _has_utf8_line(data, choice.codec):
                    raise mixed_encoding_error(path, choice.codec, name)
                text = decoder.decode(data, final=final)
                out.replaced += text.count("\ufffd")
                if "\x00" in text:
                    for offset, line in enumerate(text.split("\n")):
                        if "\x00" in line:
                            out.nul_lines.append(line_number + offset + 1)
                    text = text.replace("\x00", "")
                line_number += text.count("\n")
                if splitter is not None:
                    text, written = _realign(text, splitter)
                    out.lines += written
                dst.write(text)
                if final:
                    break
    except BaseException:
        out.path.unlink(missing_ok=True)
        raise
    return out


def _has_utf8_line(data: bytes, legacy: str) -> bool:
    try:
        data.decode("utf-8")
        return True  # a whole chunk of non-ASCII UTF-8 in a file that is not UTF-8
    except UnicodeDecodeError:
        pass
    return any(not line.isascii() and _is_utf8_text(line, legacy) for line in data.split(b"\n"))


def _realign(text: str, splitter) -> tuple[str, int]:
    """Whitespace-aligned lines as tab-separated lines; lines without a value dropped."""
    lines = []
    for line in text.splitlines():
        fields = splitter(line)
        if fields:
            lines.append("\t".join(f.strip('"') for f in fields))
    return ("\n".join(lines) + "\n") if lines else "", len(lines)
