"""The config schema: defaults, presets, TOML files, --set parsing, validation messages."""

from __future__ import annotations

import pytest

from textcnn.config import (
    CONFIG_DIR,
    Config,
    ConfigError,
    config_from_toml,
    load_config,
    parse_set,
    read_toml,
    to_toml,
)


def test_defaults_are_kims_cnn_rand():
    cfg = Config()
    assert cfg.model.name == "cnn"
    assert cfg.model.widths == [3, 4, 5]
    assert cfg.model.feature_maps == 100
    assert cfg.model.embedding_dim == 300
    assert cfg.model.dropout == 0.5
    assert cfg.model.max_norm == 3.0
    assert cfg.train.batch_size == 50


def test_set_overrides_are_type_checked():
    cfg = load_config(sets=["model.widths=2,3", "train.lr=0.5", "model.max_norm=none", "train.precision=bf16"])
    assert cfg.model.widths == [2, 3]
    assert cfg.train.lr == 0.5
    assert cfg.model.max_norm is None
    assert cfg.train.precision == "bf16"


def test_precision_defaults_to_auto_and_old_bf16_settings_still_load(tmp_path):
    assert load_config().train.precision == "auto"
    assert load_config(sets=["train.bf16=true"]).train.precision == "bf16"
    assert load_config(sets=["train.bf16=false"]).train.precision == "fp32"
    with pytest.raises(ConfigError, match="train.precision='fp16' is not one of auto, fp32, bf16"):
        load_config(sets=["train.precision=fp16"])
    old = to_toml(load_config()).replace('precision = "auto"', "bf16 = true")  # a run folder from before
    (tmp_path / "config.toml").write_text(old)
    assert "bf16 = true" in old and config_from_toml(tmp_path / "config.toml").train.precision == "bf16"


def test_runs_saved_before_edge_padding_existed_load_without_it(tmp_path):
    (tmp_path / "config.toml").write_text(to_toml(load_config()).replace("# edge_padding = (unset)\n", ""))
    assert config_from_toml(tmp_path / "config.toml").model.edge_padding is False
    (tmp_path / "config.toml").write_text(to_toml(load_config(sets=["model.edge_padding=true"])))
    assert config_from_toml(tmp_path / "config.toml").model.edge_padding is True


def test_runs_saved_before_vector_scale_existed_keep_their_vectors_unscaled(tmp_path):
    text = to_toml(load_config())
    assert 'vector_scale = "kim"' in text and load_config().model.vector_scale == "kim"
    (tmp_path / "config.toml").write_text(text.replace('vector_scale = "kim"\n', ""))
    assert config_from_toml(tmp_path / "config.toml").model.vector_scale == "none"
    with pytest.raises(ConfigError, match="vector_scale"):
        load_config(sets=["model.vector_scale=big"])


def test_validation_passes_are_capped_by_default_and_can_score_everything():
    assert load_config().train.eval_max_examples == 10_000
    assert load_config(sets=["train.eval_max_examples=none"]).train.eval_max_examples is None
    with pytest.raises(ConfigError, match="train.eval_max_examples=0 must be >= 1"):
        load_config(sets=["train.eval_max_examples=0"])


def test_auto_precision_is_bf16_only_where_the_hardware_has_it(monkeypatch):
    import torch

    from textcnn import runtime

    cpu = torch.device("cpu")
    monkeypatch.setattr(runtime, "_cpu_flags", lambda: {"avx2", "fma"})
    assert runtime.resolve_precision("auto", cpu) == "fp32"
    assert runtime.resolve_precision("bf16", cpu) == "bf16"  # asked for: emulated, slowly, but honoured
    monkeypatch.setattr(runtime, "_cpu_flags", lambda: {"avx512f", "avx512_bf16", "amx_bf16"})
    assert runtime.resolve_precision("auto", cpu) == "bf16"
    assert runtime.resolve_precision("fp32", cpu) == "fp32"
    assert runtime.resolve_precision("auto", torch.device("mps")) == "fp32"


@pytest.mark.parametrize(
    "item, fragment",
    [
        ("model.foo=1", "unknown config key model.'foo'"),
        ("nope.x=1", "unknown config section 'nope'"),
        ("train.epochs=abc", "train.epochs expects an integer"),
        ("train.bf16=maybe", "train.bf16 expects true or false"),
        ("model.name=transformer", "model.name='transformer' is not one of"),
        ("model.dropout=1.5", "model.dropout=1.5 must be in [0, 1)"),
        ("noequals", "must look like section.key=value"),
    ],
)
def test_bad_overrides_name_the_key(item, fragment):
    with pytest.raises(ConfigError) as e:
        load_config(sets=[item])
    assert fragment in str(e.value)
    assert "\n" not in str(e.value)


def test_unknown_key_lists_valid_ones():
    with pytest.raises(ConfigError, match="valid: name, embedding_dim"):
        load_config(sets=["model.filters=3"])


def test_several_problems_are_gathered():
    with pytest.raises(ConfigError) as e:
        load_config(sets=["train.epochs=0", "train.batch_size=0"])
    assert "train.epochs=0" in str(e.value) and "train.batch_size=0" in str(e.value)


def test_precedence_preset_then_model_then_file_then_options_then_set(tmp_path):
    f = tmp_path / "over.toml"
    f.write_text("[train]\nepochs = 7\nlr = 0.3\n")
    cfg = load_config("sst2", "lstm", f, {"train": {"epochs": 4, "seed": None}}, ["train.lr=0.2"])
    assert cfg.model.name == "lstm"
    assert cfg.train.epochs == 4  # the option beats the file
    assert cfg.train.lr == 0.2  # --set beats everything
    assert cfg.data.dataset == "sst2"


def test_saved_config_round_trips_including_unset_values(tmp_path):
    cfg = load_config("trec", sets=["model.max_norm=none", "model.widths=2,4"])
    p = tmp_path / "config.toml"
    p.write_text(to_toml(cfg))
    again = config_from_toml(p)
    assert again == cfg
    assert again.model.max_norm is None


def test_parse_set_keeps_values_raw():
    assert parse_set(["a.b=1=2"]) == {"a": {"b": "1=2"}}


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_every_shipped_config_loads_and_validates(path):
    raw = read_toml(path)
    if "data" in raw:
        cfg = load_config(dataset=path.stem)
        assert cfg.data.dataset == path.stem
    else:
        cfg = load_config(model=path.stem)
        assert cfg.model.name == path.stem


def test_hub_id_finds_its_preset():
    cfg = load_config("stanfordnlp/sst2")
    assert cfg.data.text_column == "sentence"
