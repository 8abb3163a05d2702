"""Offline speaker diarization (who spoke when): resemblyzer's voice encoder on CPU torch, spectral clustering.

An optional extra: `scripts/install-diarize.sh .venv` installs it (resemblyzer's weights ship in its wheel, so nothing
is fetched at run time). Without it `available()` is False and `diarize()` raises EngineUnavailable.

How it works:
1. voice activity (webrtcvad) on the volume-normalised audio gives the speech regions, in the original timeline;
2. the speech frames are laid end to end and cut into 1.6 s windows every 0.25 s (the encoder's own window), each
   embedded by the encoder in batches; cutting silence out only for the windows, never from the timeline, keeps the
   timestamps right (resemblyzer's `preprocess_wav` cuts silence out of the audio itself);
3. the windows are clustered with spectral clustering on a pruned cosine-affinity graph; when the number of speakers
   is not given it is the one with the largest eigengap of the graph's Laplacian (a fixed cosine threshold got the
   count wrong), the pruning chosen per recording as in NME-SC (Park et al., 2019), with two guards against
   splitting one voice: at most one speaker per 5 s of speech, and more than one only when the graph clearly
   falls apart (SPLIT_MAX_EIGEN_RATIO);
4. every speech frame takes the speaker most of its windows voted for, centre-weighted; inside a stretch of speech
   a run shorter than half a second joins its neighbour (windows blur a change of speaker), and runs of one speaker
   become turns.
"""

from __future__ import annotations

import functools
import importlib
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from voxhub.engines.base import EngineUnavailable

SAMPLE_RATE = 16_000
FRAME_S = 0.01  # the encoder's mel frames: 25 ms windows every 10 ms
MEL_WINDOW_S = 0.025
MEL_CHANNELS = 40
WINDOW_FRAMES = 160  # 1.6 s, the encoder's partial-utterance length
STEP_FRAMES = 25  # a window every 0.25 s
VAD_FRAME_S = 0.03  # webrtcvad takes 10, 20 or 30 ms frames
VAD_MODE = 2  # 0 (keeps most) .. 3 (drops most); 3 loses soft word endings
VAD_BRIDGE_S = 0.3  # a pause shorter than this stays inside the speech region
VAD_MIN_SPEECH_S = 0.09  # a blip shorter than this is noise
TURN_BRIDGE_S = 0.5  # one speaker's runs closer than this make one turn
MIN_RUN_S = 0.5  # a shorter run of one speaker inside a stretch of speech joins its neighbour
TARGET_DBFS = -30.0  # resemblyzer's training level; quieter audio is raised to it
EMBED_BATCH = 128
# The encoder runs on one thread: jobs run side by side in worker processes, and on a busy 2-core machine the LSTM
# on two threads took 3 to 25 times longer than on one (its threads spin waiting for each other); idle, two were only
# about 1.5 times faster
TORCH_THREADS = 1
MAX_CLUSTERED_WINDOWS = (
    1000  # more are subsampled for the graph (about 4 minutes of speech), then each window joins its nearest speaker
)
PRUNE_FRACTIONS = (0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3)
SPEAKER_LIMIT = 20
# Estimating the count, each speaker must have this much speech on average: with few windows the eigengap of a single
# voice's graph is noise, and 20 s of one voice came out as 8 speakers; this way under 10 s of speech is one speaker
SPEECH_PER_SPEAKER_S = 5.0
# ... and the graph must split clearly: min over k of eigenvalue k / eigenvalue k+1 of its Laplacian below this. On
# synthetic voices a single voice gave 0.41 to 0.83, two to four voices 0.04 to 0.33 (tests/engines, bench/diarize.py)
SPLIT_MAX_EIGEN_RATIO = 0.37
# ... and two speakers whose mean voices are this alike are one. The ratio above still let a single voice through as
# two now and then (0.40 to 0.68 over piper's random syntheses); the halves of that split voice were 0.93 to 0.95
# alike, two different voices 0.55 to 0.57 (resemblyzer embeddings, cosine of the cluster means)
SAME_VOICE_MIN_COSINE = 0.88
DEFAULT_MAX_SPEAKERS = 8
REQUIRED_MODULES = (
    "torch",
    "resemblyzer",
    "webrtcvad",
    "scipy.linalg",
    "scipy.signal",
    "sklearn.cluster",
    "threadpoolctl",
)
INSTALL_HINT = "run scripts/install-diarize.sh .venv (installs CPU torch and resemblyzer)"


@dataclass
class Turn:
    start: float
    end: float
    speaker: str  # "S1", "S2", ... in order of first appearance


# ---- availability and the model ----


@functools.cache
def _import_error() -> str | None:
    """None when everything diarization needs imports, else why not. Imported once: torch takes seconds."""
    try:
        with warnings.catch_warnings():
            # resemblyzer imports scipy.ndimage.morphology, deprecated in SciPy 1.x
            warnings.simplefilter("ignore", DeprecationWarning)
            for module in REQUIRED_MODULES:
                importlib.import_module(module)
    except Exception as exc:  # an import can fail with more than ImportError (a broken wheel: OSError)
        return f"{type(exc).__name__}: {exc}"
    return None


def available() -> bool:
    """Whether diarization can run here (resemblyzer and CPU torch installed). Never raises."""
    return _import_error() is None


def unavailable_reason() -> str:
    """Why diarization cannot run, and how to enable it; empty when it can."""
    error = _import_error()
    if error is None:
        return ""
    return f"speaker diarization is not installed ({error}); {INSTALL_HINT}"


_encoder: Any = None
_encoder_lock = threading.Lock()


def _get_encoder() -> Any:
    """The voice encoder, loaded once per process on the CPU (about 17 MB of weights)."""
    global _encoder
    if _encoder is None:
        with _encoder_lock:
            if _encoder is None:
                from resemblyzer import VoiceEncoder

                _encoder = VoiceEncoder("cpu", verbose=False).eval()
    return _encoder


def unload() -> None:
    """Drop the voice encoder; the next diarize() loads it again."""
    global _encoder
    with _encoder_lock:
        _encoder = None


# ---- diarization ----


def diarize(
    samples: NDArray[np.floating[Any]],
    sample_rate: int = SAMPLE_RATE,
    *,
    num_speakers: int | None = None,
    min_speakers: int | None = None,
    max_speakers: int | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> list[Turn]:
    """Who spoke when in mono float audio in [-1, 1]: turns sorted by start, speakers "S1", "S2", ... in order of
    first appearance. `num_speakers` fixes the count; otherwise it is estimated within [min_speakers, max_speakers]
    (default 1..8), allowing one speaker per 5 s of speech at most (so under 10 s of speech is one speaker unless
    min_speakers says otherwise). Audio with no speech gives no turns; with too little speech to compare voices
    (under about two seconds), one speaker whatever the counts say. `on_progress(fraction)` is called as the work
    goes on, from 0 to 1, and may raise to stop it."""
    low, high = _speaker_range(num_speakers, min_speakers, max_speakers)
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, not {sample_rate}")
    if not available():
        raise EngineUnavailable(unavailable_reason())
    audio = _prepare(samples, sample_rate)
    report = on_progress or (lambda fraction: None)

    speech = _speech_frames(audio)
    speech_index = np.flatnonzero(speech)  # mel-frame numbers of the speech, laid end to end
    if speech_index.size == 0:
        report(1.0)
        return []
    starts = _window_starts(speech_index.size)
    if len(starts) < 2:
        report(1.0)
        return _turns(speech_index, np.zeros(speech_index.size, dtype=np.int64), len(audio) / SAMPLE_RATE)

    embeddings = _embed(audio, speech_index, starts, lambda fraction: report(0.9 * fraction))
    window_labels = _cluster(embeddings, low, high)
    frame_labels = _absorb_short_runs(speech_index, _vote(window_labels, starts, speech_index.size))
    report(1.0)
    return _turns(speech_index, frame_labels, len(audio) / SAMPLE_RATE)


def _speaker_range(num: int | None, low: int | None, high: int | None) -> tuple[int, int]:
    """(fewest, most) speakers to consider; ValueError on anything out of 1..20 or inconsistent."""
    for name, value in (("num_speakers", num), ("min_speakers", low), ("max_speakers", high)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ValueError(f"{name} must be a whole number, not {value!r}")
        if not 1 <= value <= SPEAKER_LIMIT:
            raise ValueError(f"{name} must be between 1 and {SPEAKER_LIMIT}, not {value}")
    if low is not None and high is not None and low > high:
        raise ValueError(f"min_speakers ({low}) must not be more than max_speakers ({high})")
    if num is not None:
        if (low is not None and num < low) or (high is not None and num > high):
            raise ValueError(f"num_speakers ({num}) is outside min_speakers..max_speakers ({low}..{high})")
        return int(num), int(num)
    low = 1 if low is None else int(low)
    high = max(low, DEFAULT_MAX_SPEAKERS) if high is None else int(high)
    return low, high


def _prepare(samples: NDArray[np.floating[Any]], sample_rate: int) -> NDArray[np.float32]:
    """Mono float32 at 16 kHz, raised to the encoder's training level when quieter (never lowered)."""
    audio = np.asarray(samples, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"samples must be mono (one dimension), not shape {audio.shape}")
    if sample_rate != SAMPLE_RATE:
        from scipy.signal import resample_poly

        divisor = np.gcd(sample_rate, SAMPLE_RATE)
        audio = resample_poly(audio, SAMPLE_RATE // divisor, sample_rate // divisor).astype(np.float32)
    audio = np.clip(np.nan_to_num(audio), -1.0, 1.0)
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if rms > 1e-6:
        # as resemblyzer's preprocessing does, but never into clipping (mostly-silent audio has a low RMS)
        gain = min(10 ** (TARGET_DBFS / 20) / rms, 0.99 / peak)
        if gain > 1:
            audio = audio * np.float32(gain)
    return audio


def _speech_frames(audio: NDArray[np.float32]) -> NDArray[np.bool_]:
    """Per 10 ms mel frame (as many as the encoder's spectrogram has): whether it is speech."""
    import webrtcvad

    vad = webrtcvad.Vad(VAD_MODE)
    vad_len = int(VAD_FRAME_S * SAMPLE_RATE)
    n_vad = len(audio) // vad_len
    pcm = (audio[: n_vad * vad_len] * 32767).astype("<i2").tobytes()
    step = vad_len * 2
    flags = np.array([vad.is_speech(pcm[i * step : (i + 1) * step], SAMPLE_RATE) for i in range(n_vad)], dtype=bool)
    flags = _fill_runs(flags, value=False, shorter_than=round(VAD_BRIDGE_S / VAD_FRAME_S))
    flags = _fill_runs(flags, value=True, shorter_than=round(VAD_MIN_SPEECH_S / VAD_FRAME_S))

    n_mel = len(audio) // int(FRAME_S * SAMPLE_RATE) + 1  # centred frames, as _mel_frames makes them
    per_vad = round(VAD_FRAME_S / FRAME_S)
    mel_flags = np.zeros(n_mel, dtype=bool)
    expanded = np.repeat(flags, per_vad)[:n_mel]
    mel_flags[: len(expanded)] = expanded
    return mel_flags


def _fill_runs(flags: NDArray[np.bool_], *, value: bool, shorter_than: int) -> NDArray[np.bool_]:
    """Flip runs of `value` shorter than `shorter_than` frames: pauses inside speech (value False; the silence
    before the first and after the last word stays) or blips in silence (value True)."""
    out = flags.copy()
    padded = np.concatenate(([False], flags == value, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        inner = start > 0 and end < len(flags)
        if end - start < shorter_than and (inner or value):
            out[start:end] = not value
    return out


def _window_starts(n_frames: int) -> list[int]:
    """Window starts over `n_frames` speech frames laid end to end; the last window ends on the last frame."""
    if n_frames < WINDOW_FRAMES + STEP_FRAMES:
        return [0] if n_frames >= WINDOW_FRAMES else []
    starts = list(range(0, n_frames - WINDOW_FRAMES + 1, STEP_FRAMES))
    if starts[-1] != n_frames - WINDOW_FRAMES:
        starts.append(n_frames - WINDOW_FRAMES)
    return starts


def _embed(
    audio: NDArray[np.float32],
    speech_index: NDArray[np.int64],
    starts: list[int],
    report: Callable[[float], None],
) -> NDArray[np.float32]:
    """One L2-normalised voice embedding per window, computed in batches."""
    import torch

    speech_mel = _mel_frames(audio)[speech_index]
    encoder = _get_encoder()
    offsets = np.arange(WINDOW_FRAMES)
    out = np.empty((len(starts), 256), dtype=np.float32)
    start_array = np.asarray(starts)
    threads = torch.get_num_threads()
    torch.set_num_threads(TORCH_THREADS)
    try:
        with torch.inference_mode():
            for first in range(0, len(starts), EMBED_BATCH):
                batch = start_array[first : first + EMBED_BATCH]
                mels = torch.from_numpy(np.ascontiguousarray(speech_mel[batch[:, None] + offsets]))
                out[first : first + len(batch)] = encoder(mels).numpy()
                report(min(1.0, (first + len(batch)) / len(starts)))
    finally:
        torch.set_num_threads(threads)
    return out


def _mel_frames(audio: NDArray[np.float32]) -> NDArray[np.float32]:
    """The encoder's input, (frames, 40): what resemblyzer's `wav_to_mel_spectrogram` computes with librosa (a power
    spectrogram of centred, zero-padded 25 ms Hann frames every 10 ms through 40 Slaney mel filters), in numpy, a
    minute at a time. librosa's version needs its numba kernels: seconds to load, about 20 s to compile the first
    time, and an hour of audio at once is a 600 MB complex spectrogram."""
    hop = int(FRAME_S * SAMPLE_RATE)
    n_fft = int(MEL_WINDOW_S * SAMPLE_RATE)
    n_frames = len(audio) // hop + 1
    padded = np.pad(audio, n_fft // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)  # periodic, as scipy's get_window gives librosa
    filters = _mel_filters(n_fft).T
    chunk = 6000
    parts = [
        np.abs(np.fft.rfft(frames[first : first + chunk] * window, axis=1)) ** 2 @ filters
        for first in range(0, n_frames, chunk)
    ]
    return np.concatenate(parts).astype(np.float32)


@functools.cache
def _mel_filters(n_fft: int) -> NDArray[np.float32]:
    """librosa.filters.mel(sr=16000, n_fft=n_fft, n_mels=40): triangles on the Slaney mel scale, area-normalised."""

    def hz_to_mel(hz: NDArray[np.float64]) -> NDArray[np.float64]:
        linear = hz / (200 / 3)
        return np.where(hz >= 1000, 15 + np.log(np.maximum(hz, 1000) / 1000) / (np.log(6.4) / 27), linear)

    def mel_to_hz(mel: NDArray[np.float64]) -> NDArray[np.float64]:
        linear = mel * (200 / 3)
        return np.where(mel >= 15, 1000 * np.exp((np.log(6.4) / 27) * (mel - 15)), linear)

    fft_hz = np.linspace(0, SAMPLE_RATE / 2, n_fft // 2 + 1)
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(np.array(0.0)), hz_to_mel(np.array(SAMPLE_RATE / 2)), MEL_CHANNELS + 2))
    widths = np.diff(edges_hz)
    slopes = edges_hz[:, None] - fft_hz[None, :]
    rising = -slopes[:-2] / widths[:-1, None]
    falling = slopes[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(rising, falling))
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    return weights.astype(np.float32)


def _cluster(embeddings: NDArray[np.float32], low: int, high: int) -> NDArray[np.int64]:
    """A speaker number per window."""
    from threadpoolctl import threadpool_limits

    # one BLAS thread: the matrices are small, and on a busy 2-core machine a second thread fighting other work for
    # a core made the eigendecompositions up to 100 times slower (OpenBLAS spins while it waits)
    with threadpool_limits(limits=1, user_api="blas"):
        return _cluster_windows(embeddings, low, high)


def _cluster_windows(embeddings: NDArray[np.float32], low: int, high: int) -> NDArray[np.int64]:
    n = len(embeddings)
    if low < high:  # estimating: no more speakers than one per SPEECH_PER_SPEAKER_S of speech
        high = max(low, min(high, n // round(SPEECH_PER_SPEAKER_S / (STEP_FRAMES * FRAME_S))))
    high = min(high, n - 1)
    low = min(low, high)
    if high == 1:
        return np.zeros(n, dtype=np.int64)
    if n > MAX_CLUSTERED_WINDOWS:
        chosen = np.linspace(0, n - 1, MAX_CLUSTERED_WINDOWS).round().astype(np.int64)
        sample_labels = _spectral(embeddings[chosen], low, high)
        return _nearest_centroid(embeddings, embeddings[chosen], sample_labels)
    return _spectral(embeddings, low, high)


def _spectral(embeddings: NDArray[np.float32], low: int, high: int) -> NDArray[np.int64]:
    """Spectral clustering with the speaker count from the eigengap; the graph keeps each window's nearest
    neighbours only, their number chosen per recording for the sharpest gap (NME-SC)."""
    from scipy.linalg import eigh
    from sklearn.cluster import KMeans

    n = len(embeddings)
    similarity = embeddings @ embeddings.T
    best: tuple[float, int, NDArray[np.float64], NDArray[np.float64]] | None = None
    for fraction in PRUNE_FRACTIONS:
        neighbours = max(2, int(fraction * n))
        laplacian = _laplacian(similarity, neighbours)
        eigenvalues = eigh(laplacian, eigvals_only=True)  # ascending; the first is 0
        gaps = np.diff(eigenvalues[: high + 1])  # gaps[k - 1]: the gap after k speakers
        count = low + int(np.argmax(gaps[low - 1 : high]))
        sharpness = float(gaps[count - 1]) / max(float(eigenvalues[-1]), 1e-10)
        score = fraction / max(sharpness, 1e-10)  # NME-SC: few neighbours, a wide gap
        if best is None or score < best[0]:
            best = (score, count, laplacian, eigenvalues)
    assert best is not None
    _, count, laplacian, eigenvalues = best
    if low == 1 and count > 1:
        # Speakers are real when the graph nearly falls apart into them: then for some k the k-th eigenvalue is
        # small next to the (k+1)-th. The eigengap alone split 20 s of one voice in two.
        ratios = eigenvalues[1:high] / np.maximum(eigenvalues[2 : high + 1], 1e-10)
        if float(ratios.min()) >= SPLIT_MAX_EIGEN_RATIO:
            count = 1
    if count == 1:
        return np.zeros(n, dtype=np.int64)
    _, vectors = eigh(laplacian, subset_by_index=[0, count - 1])
    labels = KMeans(n_clusters=count, n_init=10, random_state=0).fit_predict(vectors)
    return _merge_alike(embeddings, np.asarray(labels, dtype=np.int64), low)


def _merge_alike(embeddings: NDArray[np.float32], labels: NDArray[np.int64], low: int) -> NDArray[np.int64]:
    """Joins the two most alike speakers while their mean voices are SAME_VOICE_MIN_COSINE alike and more than
    `low` speakers are left; numbers the speakers 0.. again."""
    while True:
        present = np.unique(labels)
        if len(present) <= low:
            break
        means = np.stack([embeddings[labels == label].mean(axis=0) for label in present])
        means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-10)
        alike = means @ means.T
        np.fill_diagonal(alike, -1.0)
        first, second = np.unravel_index(int(np.argmax(alike)), alike.shape)
        if alike[first, second] < SAME_VOICE_MIN_COSINE:
            break
        labels = np.where(labels == present[second], present[first], labels)
    return np.unique(labels, return_inverse=True)[1].astype(np.int64)


def _laplacian(similarity: NDArray[np.float32], neighbours: int) -> NDArray[np.float64]:
    """L = D - A for the graph linking each window to its `neighbours` most similar windows (binary, symmetric)."""
    n = len(similarity)
    nearest = np.argpartition(-similarity, neighbours, axis=1)[:, :neighbours]
    adjacency = np.zeros((n, n))
    adjacency[np.arange(n)[:, None], nearest] = 1.0
    adjacency = (adjacency + adjacency.T) / 2
    np.fill_diagonal(adjacency, 0.0)
    return np.diag(adjacency.sum(axis=1)) - adjacency


def _nearest_centroid(
    embeddings: NDArray[np.float32], sample: NDArray[np.float32], sample_labels: NDArray[np.int64]
) -> NDArray[np.int64]:
    count = int(sample_labels.max()) + 1
    centroids = np.stack([sample[sample_labels == k].mean(axis=0) for k in range(count)])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    return np.asarray(np.argmax(embeddings @ centroids.T, axis=1), dtype=np.int64)


def _vote(window_labels: NDArray[np.int64], starts: list[int], n_frames: int) -> NDArray[np.int64]:
    """A speaker per speech frame: the one its covering windows voted for, each window's vote strongest at its
    centre (a window straddling a change of speaker knows its middle best)."""
    count = int(window_labels.max()) + 1
    votes = np.zeros((n_frames, count))
    weight = np.hanning(WINDOW_FRAMES + 2)[1:-1]
    for start, label in zip(starts, window_labels, strict=True):
        votes[start : start + WINDOW_FRAMES, label] += weight
    return np.asarray(np.argmax(votes, axis=1), dtype=np.int64)


def _absorb_short_runs(speech_index: NDArray[np.int64], frame_labels: NDArray[np.int64]) -> NDArray[np.int64]:
    """Inside each stretch of speech (between two pauses), a run of one speaker shorter than MIN_RUN_S joins its
    longer neighbour. Windows that straddle a change of speaker blur the change by a few tenths of a second, and
    people mostly change at a pause; a short stretch of speech of its own (a quick "yes") keeps its speaker."""
    labels = frame_labels.copy()
    min_run = round(MIN_RUN_S / FRAME_S)
    pauses = np.flatnonzero(np.diff(speech_index) > 1) + 1
    for stretch in np.split(np.arange(len(labels)), pauses):
        while True:
            changes = np.flatnonzero(np.diff(labels[stretch])) + 1
            bounds = np.concatenate(([0], changes, [len(stretch)]))
            lengths = np.diff(bounds)
            if len(lengths) < 2 or lengths.min() >= min_run:
                break
            shortest = int(np.argmin(lengths))
            neighbours = [i for i in (shortest - 1, shortest + 1) if 0 <= i < len(lengths)]
            into = max(neighbours, key=lambda i: lengths[i])
            labels[stretch[bounds[shortest] : bounds[shortest + 1]]] = labels[stretch[bounds[into]]]
    return labels


def _turns(speech_index: NDArray[np.int64], frame_labels: NDArray[np.int64], duration_s: float) -> list[Turn]:
    """Runs of one speaker in the original timeline as turns; labels renamed S1, S2, ... by first appearance."""
    # a new run starts where the speaker changes or the timeline jumps over silence
    breaks = np.flatnonzero((np.diff(frame_labels) != 0) | (np.diff(speech_index) > 1)) + 1
    names: dict[int, str] = {}
    turns: list[Turn] = []
    for run in np.split(np.arange(len(speech_index)), breaks):
        name = names.setdefault(int(frame_labels[run[0]]), f"S{len(names) + 1}")
        start = round(float(speech_index[run[0]]) * FRAME_S, 2)
        end = min(round(float(speech_index[run[-1]] + 1) * FRAME_S, 2), duration_s)
        if turns and turns[-1].speaker == name and start - turns[-1].end < TURN_BRIDGE_S:
            turns[-1].end = end
        else:
            turns.append(Turn(start=start, end=end, speaker=name))
    return turns


# ---- words and segments ----


def assign_speakers(segments: list[dict[str, Any]], turns: list[Turn]) -> None:
    """Set `segment["speaker"]` on Whisper-style segments ({start, end, text, words: [{start, end, ...}]}).

    Each word goes to the speaker whose turns overlap it most (the nearest turn's when none does: words often fall
    in the short pauses voice activity leaves out), and the segment takes the speaker with the most word time;
    a segment without words goes by its own span. A segment in which the speaker changes midway is not split: it
    keeps its majority speaker, since a segment is a subtitle-sized unit that Whisper itself rarely runs across a
    change of voice. With no turns, nothing is set."""
    if not turns:
        return
    ordered = sorted(turns, key=lambda turn: turn.start)
    for segment in segments:
        time_by_speaker: dict[str, float] = {}
        for word in segment.get("words") or []:
            start, end = float(word["start"]), float(word["end"])
            speaker = _speaker_at(ordered, start, end)
            time_by_speaker[speaker] = time_by_speaker.get(speaker, 0.0) + max(end - start, 1e-3)
        if time_by_speaker:
            segment["speaker"] = max(time_by_speaker, key=lambda speaker: time_by_speaker[speaker])
        else:
            segment["speaker"] = _speaker_at(ordered, float(segment["start"]), float(segment["end"]))


def _speaker_at(turns: list[Turn], start: float, end: float) -> str:
    """The speaker with the most time in [start, end]; when no turn overlaps it, the nearest turn's."""
    overlap: dict[str, float] = {}
    for turn in turns:
        if turn.start >= end:
            break
        shared = min(end, turn.end) - max(start, turn.start)
        if shared > 0:
            overlap[turn.speaker] = overlap.get(turn.speaker, 0.0) + shared
    if overlap:
        return max(overlap, key=lambda speaker: overlap[speaker])
    middle = (start + end) / 2
    nearest = min(turns, key=lambda turn: max(turn.start - middle, middle - turn.end, 0.0))
    return nearest.speaker
