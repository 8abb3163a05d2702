"""Audio and video for dubbing: the original's audio taken out, dubbed lines fitted in time, the original ducked under
them, voice and bed mixed to a loudness target, and everything muxed back into one file with tagged tracks."""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from voxhub.media.audio import EBUR128, TIMEOUT_S, Loudness, _ffmpeg, _measured
from voxhub.media.convert import ConvertFailed
from voxhub.media.probe import PROBE_TIMEOUT_S, MediaRejected, _run

# ISO 639-1 → ISO 639-2/B: Matroska asks for the bibliographic form ("fre", "ger", "chi"), and MP4 players read it too
LANGUAGE_639_2: dict[str, str] = {
    "af": "afr", "am": "amh", "ar": "ara", "as": "asm", "az": "aze", "ba": "bak", "be": "bel", "bg": "bul",
    "bn": "ben", "bo": "tib", "br": "bre", "bs": "bos", "ca": "cat", "cs": "cze", "cy": "wel", "da": "dan",
    "de": "ger", "el": "gre", "en": "eng", "eo": "epo", "es": "spa", "et": "est", "eu": "baq", "fa": "per",
    "fi": "fin", "fo": "fao", "fr": "fre", "fy": "fry", "ga": "gle", "gd": "gla", "gl": "glg", "gu": "guj",
    "ha": "hau", "he": "heb", "hi": "hin", "hr": "hrv", "ht": "hat", "hu": "hun", "hy": "arm", "id": "ind",
    "is": "ice", "it": "ita", "ja": "jpn", "jv": "jav", "ka": "geo", "kk": "kaz", "km": "khm", "kn": "kan",
    "ko": "kor", "ku": "kur", "ky": "kir", "la": "lat", "lb": "ltz", "lo": "lao", "lt": "lit", "lv": "lav",
    "mg": "mlg", "mi": "mao", "mk": "mac", "ml": "mal", "mn": "mon", "mr": "mar", "ms": "may", "mt": "mlt",
    "my": "bur", "nb": "nob", "ne": "nep", "nl": "dut", "nn": "nno", "no": "nor", "oc": "oci", "pa": "pan",
    "pl": "pol", "ps": "pus", "pt": "por", "ro": "rum", "ru": "rus", "sa": "san", "sd": "snd", "si": "sin",
    "sk": "slo", "sl": "slv", "sn": "sna", "so": "som", "sq": "alb", "sr": "srp", "su": "sun", "sv": "swe",
    "sw": "swa", "ta": "tam", "te": "tel", "tg": "tgk", "th": "tha", "tk": "tuk", "tl": "tgl", "tr": "tur",
    "tt": "tat", "uk": "ukr", "ur": "urd", "uz": "uzb", "vi": "vie", "yi": "yid", "yo": "yor", "zh": "chi",
    "zu": "zul",
}  # fmt: skip
# the terminology forms (ISO 639-2/T, also ISO 639-3) where they differ from the bibliographic ones
_TERMINOLOGY_TO_B = {
    "bod": "tib", "ces": "cze", "cym": "wel", "deu": "ger", "ell": "gre", "eus": "baq", "fas": "per",
    "fra": "fre", "hye": "arm", "isl": "ice", "kat": "geo", "mri": "mao", "mkd": "mac", "msa": "may",
    "mya": "bur", "nld": "dut", "ron": "rum", "slk": "slo", "sqi": "alb", "zho": "chi",
}  # fmt: skip
_KNOWN_B = frozenset(LANGUAGE_639_2.values())


def language_tag(code: str) -> str:
    """The ISO 639-2/B tag a container stores for a language code as users and engines write it ("pt-BR" → "por",
    "fra" → "fre"); "und" (undetermined) for anything unknown."""
    primary = re.split(r"[-_]", code.strip().lower(), maxsplit=1)[0]
    if len(primary) == 2:
        return LANGUAGE_639_2.get(primary, "und")
    if len(primary) == 3:
        primary = _TERMINOLOGY_TO_B.get(primary, primary)
        return primary if primary in _KNOWN_B else "und"
    return "und"


def _ffprobe(source: Path) -> dict[str, Any]:
    result = _run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(source)],
        PROBE_TIMEOUT_S,
    )
    if result.returncode != 0:
        raise ConvertFailed(f"ffprobe could not read {source.name}: {result.stderr.strip()[-300:]}")
    data: dict[str, Any] = json.loads(result.stdout or "{}")
    return data


def _first_stream(info: dict[str, Any], codec_type: str) -> dict[str, Any] | None:
    return next((s for s in info.get("streams", []) if s.get("codec_type") == codec_type), None)


def _first_audio(source: Path) -> dict[str, Any]:
    audio = _first_stream(_ffprobe(source), "audio")
    if audio is None:
        raise MediaRejected("unsupported_media", "no_audio_stream", "The file has no audio stream.")
    return audio


def _wav_frames(source: Path) -> int:
    """Samples per channel in a WAV, as its header declares them (WAV's time base is one sample)."""
    audio = _first_audio(source)
    return int(audio.get("duration_ts") or round(float(audio["duration"]) * int(audio["sample_rate"])))


def _duration_s(info: dict[str, Any], stream: dict[str, Any] | None) -> float:
    for value in ((stream or {}).get("duration"), info.get("format", {}).get("duration")):
        if value not in (None, "N/A"):
            return float(value)
    raise ConvertFailed("ffprobe reports no duration")


def extract_audio(source: Path, target: Path, *, sample_rate: int | None = None, channels: int = 2) -> int:
    """The first audio stream as a 16-bit WAV with `channels` channels at `sample_rate` (default: the source's own
    rate, clamped to 22050..48000); returns the rate written."""
    rate = sample_rate or min(48000, max(22050, int(_first_audio(source).get("sample_rate") or 48000)))
    _ffmpeg(
        [
            *("-i", str(source), "-map", "0:a:0", "-vn", "-sn", "-dn"),
            *("-ar", str(rate), "-ac", str(channels), "-c:a", "pcm_s16le", "-f", "wav", str(target)),
        ]
    )
    return rate


@functools.cache
def _has_rubberband() -> bool:
    listing = _run(["ffmpeg", "-hide_banner", "-filters"], PROBE_TIMEOUT_S)
    return any(line.split()[1:2] == ["rubberband"] for line in listing.stdout.splitlines())


def stretch(source: Path, target: Path, *, tempo: float) -> None:
    """A mono WAV made shorter by `tempo` (>1 faster, e.g. 1.05), pitch kept: ffmpeg's rubberband filter
    (Debian's ffmpeg links it), atempo when this ffmpeg lacks rubberband. Same rate/format out, exactly
    round(samples / tempo) samples long."""
    if tempo <= 0:
        raise ValueError(f"tempo must be positive, not {tempo}")
    audio = _first_audio(source)
    frames = round(_wav_frames(source) / tempo)
    # rubberband keeps consonants crisper than atempo's overlap-add at the speeds a dub needs
    chain = f"rubberband=tempo={tempo:.6f}" if _has_rubberband() else f"atempo={tempo:.6f}"
    # to the sample, whichever filter ran: atempo's window leaves a short line up to 2 % long, and the fit loop
    # places the next line by the length it asked for
    chain += f",apad,atrim=end_sample={frames}"
    _ffmpeg(
        [
            *("-i", str(source), "-map", "0:a:0", "-af", chain),
            *("-ar", str(audio["sample_rate"]), "-ac", str(audio.get("channels") or 1)),
            *("-c:a", str(audio.get("codec_name") or "pcm_s16le"), "-f", "wav", str(target)),
        ]
    )


ENVELOPE_RATE = 1000  # gain points a millisecond apart: a 1-hour envelope is 14 MB on disk, never all in memory
_ENVELOPE_CHUNK = 60 * ENVELOPE_RATE


def _write_envelope(target: Path, gains: Sequence[tuple[float, float]], *, duration_s: float) -> None:
    """Linear gain, as 32-bit float samples at ENVELOPE_RATE, for `gains` (time_s, gain_db) interpolated in dB."""
    points = sorted(gains, key=lambda point: point[0])  # stable: two points at one time are a jump, in their order
    times = np.array([t for t, _ in points], dtype=np.float64)
    decibels = np.array([g for _, g in points], dtype=np.float64)
    count = math.ceil(duration_s * ENVELOPE_RATE) + ENVELOPE_RATE  # a second spare: amultiply ends with the shorter
    with target.open("wb") as out:
        for start in range(0, count, _ENVELOPE_CHUNK):
            t = np.arange(start, min(count, start + _ENVELOPE_CHUNK), dtype=np.float64) / ENVELOPE_RATE
            db = np.interp(t, times, decibels, left=0.0, right=decibels[-1]) if len(points) else np.zeros_like(t)
            np.power(10.0, db / 20.0).astype("<f4").tofile(out)


def ducked_bed(original: Path, target: Path, *, gains: Sequence[tuple[float, float]], sample_rate: int) -> None:
    """`original` (stereo WAV) multiplied by a gain envelope: `gains` are (time_s, gain_db) points, linear in dB
    between them, 0 dB before the first and after the last hold the last value; a 32-bit float stereo WAV at
    `sample_rate`, as long as `original` to the sample.

    The envelope goes to ffmpeg as a millisecond-rate track that ffmpeg upsamples and multiplies in, so memory stays
    flat however long the file is. Upsampling band-limits it: a jump with no ramp rings for a few milliseconds
    (a ramp of 10 ms or more comes out as asked)."""
    frames = _wav_frames(original)
    rate = int(_first_audio(original)["sample_rate"])
    envelope = target.with_name(target.name + ".envelope.f32")
    _write_envelope(envelope, gains, duration_s=frames / rate)
    graph = (
        f"[0:a]aresample={sample_rate},aformat=sample_fmts=flt:channel_layouts=stereo[bed];"
        f"[1:a]aresample={sample_rate},pan=stereo|c0=c0|c1=c0,aformat=sample_fmts=flt[gain];"
        "[bed][gain]amultiply[out]"
    )
    try:
        _ffmpeg(
            [
                *("-i", str(original)),
                *("-f", "f32le", "-ar", str(ENVELOPE_RATE), "-ac", "1", "-i", str(envelope)),
                *("-filter_complex", graph, "-map", "[out]"),
                *("-ar", str(sample_rate), "-ac", "2", "-c:a", "pcm_f32le", "-f", "wav", str(target)),
            ]
        )
    finally:
        envelope.unlink(missing_ok=True)


def overlay(bed: Path, voice: Path, target: Path, *, sample_rate: int) -> None:
    """The mono voice track (same length, same rate) added centred onto the stereo bed, no normalisation, as a
    32-bit float stereo WAV (a sum may pass full scale; normalize_stereo brings it back) as long as the bed."""
    graph = (
        f"[0:a]aresample={sample_rate},aformat=sample_fmts=flt:channel_layouts=stereo[bed];"
        # padded so a voice a few samples short cannot end the mix early: amerge stops with its shortest input
        f"[1:a]aresample={sample_rate},aformat=sample_fmts=flt:channel_layouts=mono,apad[voice];"
        "[bed][voice]amerge=inputs=2,pan=stereo|c0=c0+c2|c1=c1+c2[out]"
    )
    _ffmpeg(
        [
            *("-i", str(bed), "-i", str(voice), "-filter_complex", graph, "-map", "[out]"),
            *("-ar", str(sample_rate), "-ac", "2", "-c:a", "pcm_f32le", "-f", "wav", str(target)),
        ]
    )


SILENCE_LUFS = -70.0  # EBU R128's absolute gate: ebur128 reports this for silence, and no gain can make it speech


def _normalized(source: Path, target: Path, *, gain_db: float, limit_dbtp: float, sample_rate: int) -> Loudness:
    limit = min(1.0, max(0.0625, 10 ** (limit_dbtp / 20)))  # alimiter's range
    chain = (
        f"volume={gain_db:.2f}dB,alimiter=limit={limit:.5f}:attack=5:release=100:level=false:latency=true,"
        # measured as the WAV will hold it: 16-bit, at the output rate
        f"aresample={sample_rate},aformat=sample_fmts=s16:channel_layouts=stereo,{EBUR128}"
    )
    return _measured(
        _ffmpeg(
            [
                *("-i", str(source), "-map", "0:a:0", "-af", chain),
                *("-ar", str(sample_rate), "-ac", "2", "-c:a", "pcm_s16le", "-f", "wav", str(target)),
            ]
        )
    )


def normalize_stereo(
    source: Path, target: Path, *, target_lufs: float = -16.0, ceiling_dbtp: float = -1.0, sample_rate: int
) -> Loudness:
    """Stereo WAV to the loudness target with a true-peak ceiling, as a 16-bit stereo WAV; returns what the written
    file measures. Silence in, silence out.

    The limiter holds samples, not the peaks between them, so it starts a little under the ceiling; when the result
    still misses (loud peaks limited away lower the loudness too), one more pass corrects gain and limit by what
    was measured."""
    measured = _measured(_ffmpeg(["-i", str(source), "-map", "0:a:0", "-af", EBUR128, "-f", "null", "-"]))
    gain = 0.0 if measured.integrated_lufs <= SILENCE_LUFS else target_lufs - measured.integrated_lufs
    limit = ceiling_dbtp - 0.3
    result = _normalized(source, target, gain_db=gain, limit_dbtp=limit, sample_rate=sample_rate)
    if result.integrated_lufs <= SILENCE_LUFS:
        return result
    overshoot = max(0.0, result.true_peak_dbtp - ceiling_dbtp)
    if overshoot > 0 or abs(result.integrated_lufs - target_lufs) > 0.3:
        result = _normalized(
            source,
            target,
            gain_db=gain + target_lufs - result.integrated_lufs,
            limit_dbtp=limit - overshoot - (0.1 if overshoot else 0.0),
            sample_rate=sample_rate,
        )
    return result


_AUDIO_ENCODERS: dict[str, list[str]] = {
    "m4a": ["-c:a", "aac", "-aac_coder", "fast", "-movflags", "+faststart", "-f", "ipod"],
    "mp3": ["-c:a", "libmp3lame", "-id3v2_version", "3", "-f", "mp3"],
    "wav": ["-c:a", "pcm_s16le", "-f", "wav"],
}


def encode_audio(
    source: Path,
    target: Path,
    *,
    fmt: Literal["m4a", "mp3", "wav"],
    bitrate_kbps: int = 128,
    language: str | None = None,
    title: str | None = None,
) -> None:
    """A stem or a mixed track as a file users download, with a language tag (ISO 639-2) and title when given: on
    the stream and the file, since MP3 (ID3 TLAN) and WAV (INFO) only keep the file's."""
    tags: list[str] = []
    if language is not None:
        tag = language_tag(language)
        tags += ["-metadata", f"language={tag}", "-metadata:s:a:0", f"language={tag}"]
    if title is not None:
        tags += ["-metadata", f"title={title}", "-metadata:s:a:0", f"title={title}"]
        tags += ["-metadata:s:a:0", f"handler_name={title}"]  # what MP4 keeps as a track's name
    bitrate = [] if fmt == "wav" else ["-b:a", f"{bitrate_kbps}k"]
    _ffmpeg(
        [
            *("-i", str(source), "-map", "0:a:0", "-map_metadata", "-1"),
            *tags,
            *bitrate,
            *_AUDIO_ENCODERS[fmt],
            str(target),
        ]
    )


@dataclass(frozen=True)
class AudioTrack:
    path: Path
    language: str  # a language code ("pt", "pt-BR", "por"); stored as ISO 639-2/B
    title: str
    default: bool = False
    copy: bool = False  # already encoded for the container (AAC for MP4): copied, not encoded again


@dataclass(frozen=True)
class SubtitleTrack:
    path: Path  # SRT
    language: str
    title: str


_MP4_SUFFIXES = (".mp4", ".m4a", ".m4v", ".mov")


def _filter_path(path: Path) -> str:
    """A path as a filter option's value inside a filter graph: escaped once for the option, once for the graph."""
    value = str(path).replace("\\", "\\\\").replace("'", "\\'").replace(":", "\\:")
    return re.sub(r"([\\'\[\],;])", r"\\\1", value)


def mux(
    *,
    video: Path | None,
    audio: Sequence[AudioTrack],
    subtitles: Sequence[SubtitleTrack],
    target: Path,
    burn: Path | None = None,
) -> None:
    """One file: `video`'s first video stream copied (re-encoded with libx264 -preset veryfast -crf 23 only when
    `burn` names an SRT to burn in), each AudioTrack as AAC 128k stereo (or copied as it is, when marked `copy`)
    with its language tag and title, the
    default disposition only on tracks marked default, each subtitle as a soft track (mov_text in MP4, SRT in
    Matroska: the container follows target's suffix) with language and title. `video=None`: audio only (an .m4a
    with several audio tracks). Cut to the video's duration (or the first audio's), so a longer track cannot make
    the file outlast the picture.

    MP4 has no way to say "no subtitles by default": its muxer enables the first subtitle track when none is
    marked, so list first the one a viewer should see if their player shows one unasked."""
    if not audio and video is None:
        raise ValueError("mux needs a video or at least one audio track")
    if burn is not None and video is None:
        raise ValueError("subtitles can only be burned into a video")
    mp4 = target.suffix.lower() in _MP4_SUFFIXES
    reference = video if video is not None else audio[0].path
    info = _ffprobe(reference)
    duration_s = _duration_s(info, _first_stream(info, "video" if video is not None else "audio"))

    inputs: list[str] = []
    maps: list[str] = []
    codecs: list[str] = []
    index = 0
    if video is not None:
        inputs += ["-i", str(video)]
        maps += ["-map", f"{index}:v:0"]
        if burn is None:
            codecs += ["-c:v", "copy"]
        else:
            codecs += ["-vf", f"subtitles=filename={_filter_path(burn)},format=yuv420p"]
            codecs += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23"]
        index += 1
    for number, track in enumerate(audio):
        inputs += ["-i", str(track.path)]
        maps += ["-map", f"{index}:a:0"]
        codecs += [
            *(f"-metadata:s:a:{number}", f"language={language_tag(track.language)}"),
            *(f"-metadata:s:a:{number}", f"title={track.title}"),
            *(f"-metadata:s:a:{number}", f"handler_name={track.title}"),  # MP4 keeps a track's name here
            *(f"-disposition:a:{number}", "default" if track.default else "0"),
        ]
        if track.copy:
            codecs += [f"-c:a:{number}", "copy"]
        else:
            codecs += [f"-c:a:{number}", "aac", f"-b:a:{number}", "128k", f"-ac:a:{number}", "2"]
        index += 1
    for number, subtitle in enumerate(subtitles):
        inputs += ["-i", str(subtitle.path)]
        maps += ["-map", f"{index}:s:0"]
        codecs += [
            *(f"-metadata:s:s:{number}", f"language={language_tag(subtitle.language)}"),
            *(f"-metadata:s:s:{number}", f"title={subtitle.title}"),
            *(f"-metadata:s:s:{number}", f"handler_name={subtitle.title}"),
            *(f"-disposition:s:{number}", "0"),
        ]
        index += 1
    if subtitles:
        codecs += ["-c:s", "mov_text" if mp4 else "srt"]
    container = ["-movflags", "+faststart"] if mp4 else []
    # re-encoding the picture is the slow part: give it time in proportion to the length
    timeout = TIMEOUT_S + (4 * duration_s if burn is not None else 0)
    _ffmpeg(
        [*inputs, *maps, "-map_metadata", "-1", *codecs, "-t", f"{duration_s:.6f}", *container, str(target)],
        timeout_s=timeout,
    )
