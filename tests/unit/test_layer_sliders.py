"""Layer sliders offer the layers the chosen model has: the embedded MiniLM has 6, so the attention
view offers 1-6, the contextual vectors 0-6 and "freeze the lower N layers" 0-6."""

import gradio as gr
import pytest

from lab.context import Lab
from lab.settings import Settings
from tabs.attention import layer_slider_update
from tabs.components import Slider


@pytest.fixture(scope="module")
def lab():
    return Lab(Settings(offline=True))


def test_the_layers_are_read_from_the_models_config(lab, tiny_cls_dir):
    assert lab.num_layers("finetune-base") == 6  # the embedded all-MiniLM-L6-v2
    assert lab.num_layers("classification", local_only=True) == 6  # its head sits on the same encoder
    tiny = Lab(Settings(offline=True, model_overrides={"classification": str(tiny_cls_dir)}))
    assert tiny.num_layers("classification") == 2  # a local model: its own config


def test_a_slider_update_bounds_the_maximum_and_keeps_the_value_inside(lab):
    assert layer_slider_update(lab, "finetune-base", 1, 12) == gr.update(maximum=6, value=6)
    assert layer_slider_update(lab, "finetune-base", 0, 3) == gr.update(maximum=6, value=3)
    assert layer_slider_update(lab, "finetune-base", 1, None) == gr.update(maximum=6, value=1)


def test_the_page_offers_only_the_embedded_models_layers(lab):
    from app import build_app

    demo = build_app(lab)
    sliders = {block.elem_id: block for block in demo.blocks.values() if isinstance(block, Slider) and block.elem_id}
    for elem_id in ("attn-fill-mask-layer", "attn-classification-layer", "attn-tokenizer-layer", "tr-layer"):
        assert sliders[elem_id].maximum == 6, elem_id
    freeze = next(block for block in demo.blocks.values()
                  if isinstance(block, Slider) and getattr(block.label, "key", None) == "ft.freeze_layers")
    assert (freeze.minimum, freeze.maximum) == (0, 6)
    # An API value past the last layer is explained with the field's range, not a bare "Error".
    with pytest.raises(gr.Error, match="6"):
        sliders["attn-fill-mask-layer"].preprocess(7)
