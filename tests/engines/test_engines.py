"""Engine selection and model resolution on the real installed packages: names resolve to installed models first,
a missing model fails with `model_unavailable` saying what to install, voices map OpenAI's names."""

from __future__ import annotations

from pathlib import Path

import pytest

from voxhub import engines
from voxhub.config import Settings
from voxhub.engines import asr as whisper
from voxhub.engines.apertium import ApertiumTranslator, LocalTranslator
from voxhub.engines.base import EngineError, ModelUnavailable, UnsupportedLanguage
from voxhub.engines.mt import BergamotTranslator, check_language
from voxhub.engines.remote import RemoteSynthesizer, RemoteTranscriber, RemoteTranslator


@pytest.fixture
def offline(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "var", asr_allow_download=False)  # type: ignore[call-arg]


def test_packaged_models_resolve_without_network(offline: Settings) -> None:
    assert whisper.installed_models(offline)[:2] == ["base", "tiny.en"]
    base = Path(whisper.resolve("base", offline))
    # the two halves of model.bin are joined once into the data dir, next to the config and tokenizer
    assert base == offline.models_dir / "whisper-base"
    assert {"model.bin", "config.json", "tokenizer.json", "vocabulary.json"} <= {p.name for p in base.iterdir()}
    size = (base / "model.bin").stat().st_size
    assert whisper.resolve("base", offline) == str(base)  # the second call reuses the joined file
    assert (base / "model.bin").stat().st_size == size
    assert (Path(whisper.resolve("tiny.en", offline)) / "model.bin").exists()


def test_a_model_directory_under_data_dir_is_installed(offline: Settings) -> None:
    custom = offline.models_dir / "my-finetune"
    custom.mkdir(parents=True)
    (custom / "model.bin").write_bytes(b"")
    assert "my-finetune" in whisper.installed_models(offline)
    assert whisper.resolve("my-finetune", offline) == str(custom)


def test_a_missing_model_says_what_to_do(offline: Settings) -> None:
    with pytest.raises(ModelUnavailable) as caught:
        whisper.resolve("large-v3", offline)
    assert caught.value.code == "model_unavailable"
    assert "VOXHUB_ASR_ALLOW_DOWNLOAD" in caught.value.message
    assert caught.value.details["installed"][:2] == ["base", "tiny.en"]


def test_a_hub_download_that_fails_offline_is_model_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This machine has no route to the hub, as on an air-gapped server: the fetch fails and says so.
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "2")
    monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", "2")
    settings = Settings(_env_file=None, data_dir=tmp_path / "var")  # type: ignore[call-arg]
    with pytest.raises(ModelUnavailable) as caught:
        whisper.resolve("small.en", settings)
    assert "could not be fetched" in caught.value.message


def test_engines_follow_settings_and_per_job_overrides(offline: Settings) -> None:
    assert isinstance(engines.transcriber(offline), whisper.WhisperTranscriber)
    assert isinstance(engines.transcriber(offline, engine="remote"), RemoteTranscriber)
    assert isinstance(engines.synthesizer(offline, engine="remote"), RemoteSynthesizer)
    assert isinstance(engines.translator(offline), LocalTranslator)  # Bergamot, and Apertium's pairs
    remote = offline.model_copy(update={"mt_engine": "remote"})
    assert isinstance(engines.translator(remote), RemoteTranslator)
    config = engines.remote_config(offline, "asr", api_key="sk-workspace", base_url="http://other/v1")
    assert (config.base_url, config.api_key, config.model) == ("http://other/v1", "sk-workspace", "whisper-1")


def test_voices_and_openai_voice_names(offline: Settings) -> None:
    synth = engines.synthesizer(offline)
    voices = synth.voices()
    ids = [voice.id for voice in voices]
    assert ids[0] == "en_US-joe-medium"  # piper first
    assert voices[0].language == "en-US" and voices[0].engine == "piper" and voices[0].sample_rate == 22050
    assert "espeak:pt-br" in ids
    assert engines.find_voice(synth, "alloy", default=offline.tts_voice).id == "en_US-joe-medium"
    assert engines.find_voice(synth, None, default=offline.tts_voice, language="pt-BR").engine == "espeak-ng"
    with pytest.raises(EngineError) as unknown:
        engines.find_voice(synth, "nobody", default=offline.tts_voice)
    assert unknown.value.code == "voice_not_found"
    with pytest.raises(EngineError) as nobody_speaks:
        engines.find_voice(synth, None, default=offline.tts_voice, language="xx")
    assert nobody_speaks.value.code == "unsupported_language"


def test_local_translation_pairs_and_languages() -> None:
    local = BergamotTranslator()
    assert ("en", "pt") in local.pairs() and ("pt", "en") in local.pairs()
    assert local.translate(["Good morning.", ""], source="en", target="pt-BR") == ["Bom dia.", ""]
    with pytest.raises(EngineError) as unavailable:
        local.translate(["Hello"], source="en", target="de")
    assert unavailable.value.code == "engine_unavailable"
    assert "VOXHUB_MT_ENGINE=remote" in unavailable.value.message
    assert check_language("pt-BR") == "pt"
    with pytest.raises(UnsupportedLanguage):
        check_language("portuguese!")


def test_apertium_translates_the_pairs_debian_installed_and_refuses_others() -> None:
    apertium = ApertiumTranslator()
    assert ("en", "es") in apertium.pairs() and ("es", "en") in apertium.pairs()  # make installs apertium-eng-spa
    assert apertium.translate(["Good morning.", "", "The rain will stop."], source="en", target="es") == [
        "Buenos días.",
        "",
        "La lluvia parará.",
    ]
    with pytest.raises(EngineError) as unavailable:
        apertium.translate(["Hello"], source="en", target="de")
    assert unavailable.value.code == "engine_unavailable"
    local = LocalTranslator(BergamotTranslator(), apertium)
    assert local.translate(["Good morning."], source="en", target="pt") == ["Bom dia."] and local.name == "bergamot"
    assert local.translate(["Good morning."], source="en", target="es") == ["Buenos días."]
    assert local.name == "apertium"
