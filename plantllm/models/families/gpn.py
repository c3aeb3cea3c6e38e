"""GPN (Benegas, Batra & Song 2023; github.com/songlab-cal/gpn) natively, in plain PyTorch.

Two families, both loading the published ``config.json`` + safetensors as they are:

* ``ConvNet`` (model_type ``ConvNet``), the legacy layout of the published GPN Brassicales model
  (songlab/gpn-brassicales): one-hot bases, ``n_layers`` post-norm residual blocks of [dilated
  convolution, GELU, LayerNorm] and [linear, GELU, LayerNorm], a masked-LM head;
* ``GPN`` (model_type ``GPN``), the current family: one-hot (or learnt) input, a pre-norm encoder
  chosen by ``config.encoder`` -- ``convnet`` (dilated convolution and feed-forward sub-blocks),
  ``bytenet`` (ByteNet blocks) or ``roformer`` (transformers' RoFormer encoder) -- then a final
  LayerNorm and a masked-LM head.

Each has a base model, a masked-LM head and a mean-pooled sequence head (classification, or
regression with ``num_labels=1``), registered with the Hugging Face Auto classes when this module
is imported: ``AutoModelForMaskedLM.from_pretrained(folder)`` opens a GPN checkpoint without the
``gpn`` package and without remote code. The blocks are in :mod:`.gpn_layers`; GPN's tokenizer
(``[PAD] [MASK] [UNK] a c g t``, no CLS/SEP, lower-cased) is ``plantllm.models.tokenizers.gpn_tokenizer``.

GPN takes no attention mask: the convolutions see the whole window, padding included, as in GPN's
own code (the RoFormer encoder and the sequence heads do use a given mask; on unpadded input all of
this is GPN's computation exactly).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import (AutoConfig, AutoModel, AutoModelForMaskedLM, AutoModelForSequenceClassification,
                          PretrainedConfig, PreTrainedModel, RoFormerConfig)
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutput, MaskedLMOutput, SequenceClassifierOutput
from transformers.models.roformer.modeling_roformer import RoFormerEncoder, RoFormerSinusoidalPositionalEmbedding

from plantllm.models.families.gpn_layers import (ConvEncoder, LearntEmbedding, LegacyBlock, OneHot, SequenceHead,
                                                 BlockStack, dilations)

MODEL_TYPES = ("ConvNet", "GPN")


# ---------------------------------------------------------------- configurations
class ConvNetConfig(PretrainedConfig):
    """The legacy GPN ConvNet; the defaults are GPN Brassicales (512 channels, 25 layers, kernel 9,
    dilations 1, 2, 4 ... 32 repeating every 6 layers)."""

    model_type = "ConvNet"

    def __init__(self, vocab_size=7, hidden_size=512, n_layers=25, kernel_size=9, dilation_double_every=1,
                 dilation_max=32, dilation_cycle=6, dilation_base=2, initializer_range=0.02, n_aux_features=0,
                 aux_features_vocab_size=5, hidden_dropout_prob=0.1, hidden_act="gelu", regression_softplus=False,
                 **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.hidden_size, self.n_layers, self.kernel_size = vocab_size, hidden_size, n_layers, kernel_size
        self.dilation_double_every, self.dilation_max = dilation_double_every, dilation_max
        self.dilation_cycle, self.dilation_base = dilation_cycle, dilation_base
        self.initializer_range, self.n_aux_features = initializer_range, n_aux_features
        self.aux_features_vocab_size, self.hidden_dropout_prob = aux_features_vocab_size, hidden_dropout_prob
        self.hidden_act, self.regression_softplus = hidden_act, regression_softplus

    @property
    def num_hidden_layers(self) -> int:  # the name transformers and plantllm read
        return self.n_layers


class GPNConfig(RoFormerConfig):
    """The current GPN family. A RoFormer config underneath, so a ``roformer`` encoder reads its own
    keys (heads, attention dropout, max_position_embeddings); the defaults are GPN's."""

    model_type = "GPN"

    def __init__(self, vocab_size=7, aux_features_vocab_size=5, n_aux_features=0, embedding="one_hot",
                 encoder="convnet", num_hidden_layers=25, hidden_size=512, intermediate_size=2048,
                 hidden_dropout_prob=0.0, bias=False, tie_word_embeddings=False, mlm_head_transform=True, slim=False,
                 first_kernel_size=9, rest_kernel_size=5, dilation_double_every=1, dilation_max=9999,
                 dilation_cycle=8, dilation_base=2, depthwise=False, classification_head="standard", pos_weight=None,
                 regression_softplus=False, **kwargs):
        super().__init__(**kwargs)
        if embedding not in ("one_hot", "embedding"):
            raise ValueError(f"GPN embedding '{embedding}' must be one_hot or embedding")
        if encoder not in ("convnet", "bytenet", "roformer"):
            raise ValueError(f"GPN encoder '{encoder}' must be convnet, bytenet or roformer")
        self.vocab_size, self.aux_features_vocab_size, self.n_aux_features = vocab_size, aux_features_vocab_size, n_aux_features
        self.embedding, self.encoder, self.num_hidden_layers = embedding, encoder, num_hidden_layers
        self.hidden_size, self.intermediate_size, self.hidden_dropout_prob = hidden_size, intermediate_size, hidden_dropout_prob
        self.bias, self.tie_word_embeddings, self.mlm_head_transform = bias, tie_word_embeddings, mlm_head_transform
        self.slim, self.first_kernel_size, self.rest_kernel_size = slim, first_kernel_size, rest_kernel_size
        self.dilation_double_every, self.dilation_max = dilation_double_every, dilation_max
        self.dilation_cycle, self.dilation_base, self.depthwise = dilation_cycle, dilation_base, depthwise
        self.classification_head, self.pos_weight = classification_head, pos_weight
        self.regression_softplus = regression_softplus


# ---------------------------------------------------------------- shared behaviour
class _GPNPreTrained(PreTrainedModel):
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    accepts_loss_kwargs = False  # the loss is a mean over this batch's tokens, not over num_items_in_batch
    _no_split_modules = ["LegacyBlock", "ConvBlock", "ByteNetBlock", "RoFormerLayer"]

    def _init_weights(self, module):
        super()._init_weights(module)  # normal(0, initializer_range) linear/conv weights, unit LayerNorms
        if isinstance(module, RoFormerSinusoidalPositionalEmbedding):
            init.copy_(module.weight, module.create_weight())

    def lora_target_modules(self) -> str:
        """The layers LoRA adapts, as a peft regex over module names: the linear layers of the encoder
        blocks (the RoFormer encoder: query and value). Not the dilated convolutions: peft (0.21) builds a
        conv adapter without the layer's dilation, so the merged model would differ from the trained one."""
        c = self.config
        if c.model_type == "ConvNet":
            return r".*encoder\.\d+\.ffn\.0"
        if c.encoder == "roformer":
            return r".*encoder\.layer\.\d+\.attention\.self\.(query|value)"
        if c.encoder == "bytenet":
            return r".*encoder\.layer\.\d+\.layer\.(2|10)"
        return r".*encoder\.layer\.\d+\.(conv\.5|ffn\.1|ffn\.3)"


def _loss_mlm(logits, labels, loss_weight):
    """Cross-entropy over the labelled tokens; with ``loss_weight`` a weighted mean (GPN's repeat
    down-weighting)."""
    if labels is None:
        return None
    ce = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), labels.reshape(-1), reduction="none")
    w = (labels.reshape(-1) != -100).float()
    if loss_weight is not None:
        w = w * loss_weight.reshape(-1).float()
    return (ce * w).sum() / w.sum().clamp(min=1e-12)


def _loss_sequence(config, logits, labels):
    """Hugging Face's sequence-classification loss rules (problem_type chosen from the labels when unset)."""
    if labels is None:
        return None
    if config.problem_type is None:
        config.problem_type = ("regression" if config.num_labels == 1 else "single_label_classification"
                               if labels.dtype in (torch.long, torch.int) else "multi_label_classification")
    if config.problem_type == "regression":
        return F.mse_loss(logits.squeeze(), labels.squeeze().to(logits.dtype)) if config.num_labels == 1 \
            else F.mse_loss(logits, labels.to(logits.dtype))
    if config.problem_type == "single_label_classification":
        return F.cross_entropy(logits.view(-1, config.num_labels), labels.view(-1))
    return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))


class _MLMMixin:
    def forward(self, input_ids=None, attention_mask=None, labels=None, loss_weight=None, input_probs=None,
                aux_features=None, output_hidden_states=None, **kwargs):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, input_probs=input_probs,
                         aux_features=aux_features, output_hidden_states=output_hidden_states)
        logits = self.cls(out.last_hidden_state)
        return MaskedLMOutput(loss=_loss_mlm(logits, labels, loss_weight), logits=logits,
                              hidden_states=out.hidden_states)

    def get_output_embeddings(self):  # nothing to tie to a one-hot input
        return None if self.model.get_input_embeddings() is None else self.cls.decoder


class _SequenceMixin:
    def forward(self, input_ids=None, attention_mask=None, labels=None, aux_features=None, output_hidden_states=None,
                **kwargs):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, aux_features=aux_features,
                         output_hidden_states=output_hidden_states)
        logits = self.classifier(out.last_hidden_state, attention_mask)
        if self.config.regression_softplus:
            logits = F.softplus(logits)
        return SequenceClassifierOutput(loss=_loss_sequence(self.config, logits, labels), logits=logits,
                                        hidden_states=out.hidden_states)


# ---------------------------------------------------------------- legacy ConvNet
class ConvNetPreTrainedModel(_GPNPreTrained):
    config_class = ConvNetConfig


class ConvNetModel(ConvNetPreTrainedModel):
    def __init__(self, config: ConvNetConfig):
        super().__init__(config)
        self.embedding = OneHot(config)
        sched = dilations(config.n_layers, config.dilation_base, config.dilation_cycle,
                          config.dilation_double_every, config.dilation_max)
        self.encoder = BlockStack([LegacyBlock(config.hidden_size, config.kernel_size, d) for d in sched])
        self.post_init()

    def get_input_embeddings(self):
        return None

    def forward(self, input_ids=None, attention_mask=None, input_probs=None, aux_features=None,
                output_hidden_states=None, **kwargs):
        x, states = self.encoder(self.embedding(input_ids, input_probs, aux_features), bool(output_hidden_states))
        return BaseModelOutput(last_hidden_state=x, hidden_states=tuple(states) if states else None)


class LegacyMLMHead(nn.Module):
    def __init__(self, c: ConvNetConfig):
        super().__init__()
        h = c.hidden_size
        self.decoder = nn.Sequential(nn.Linear(h, h), nn.GELU(), nn.LayerNorm(h), nn.Linear(h, c.vocab_size))

    def forward(self, x):
        return self.decoder(x)


class ConvNetForMaskedLM(_MLMMixin, ConvNetPreTrainedModel):
    def __init__(self, config: ConvNetConfig):
        super().__init__(config)
        self.model = ConvNetModel(config)
        self.cls = LegacyMLMHead(config)
        self.post_init()


class ConvNetForSequenceClassification(_SequenceMixin, ConvNetPreTrainedModel):
    def __init__(self, config: ConvNetConfig):
        super().__init__(config)
        self.model = ConvNetModel(config)
        self.classifier = SequenceHead(config, "standard", legacy=True)
        self.post_init()


# ---------------------------------------------------------------- GPN
class GPNPreTrainedModel(_GPNPreTrained):
    config_class = GPNConfig


class GPNModel(GPNPreTrainedModel):
    def __init__(self, config: GPNConfig):
        super().__init__(config)
        self.embeddings = OneHot(config) if config.embedding == "one_hot" else LearntEmbedding(config)
        self.encoder = RoFormerEncoder(config) if config.encoder == "roformer" else ConvEncoder(config)
        self.ln_f = nn.LayerNorm(config.hidden_size, bias=config.bias)
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value):
        self.embeddings.word_embeddings = value

    def forward(self, input_ids=None, attention_mask=None, input_probs=None, aux_features=None,
                output_hidden_states=None, **kwargs):
        x = self.embeddings(input_ids=input_ids, input_probs=input_probs, aux_features=aux_features)
        if self.config.encoder == "roformer":
            mask = None if attention_mask is None or bool(attention_mask.all()) else \
                self.get_extended_attention_mask(attention_mask, x.shape[:2])
            out = self.encoder(x, attention_mask=mask, output_hidden_states=bool(output_hidden_states))
            x, states = out.last_hidden_state, list(out.hidden_states) if output_hidden_states else None
        else:
            x, states = self.encoder(x, bool(output_hidden_states))
        x = self.ln_f(x)
        if states:
            states[-1] = x  # hidden_states[-1] is last_hidden_state, as in other transformers encoders
        return BaseModelOutput(last_hidden_state=x, hidden_states=tuple(states) if states else None)


class GPNMLMHead(nn.Module):
    def __init__(self, c: GPNConfig):
        super().__init__()
        h = c.hidden_size
        self.transform = (nn.Sequential(nn.Linear(h, h, bias=c.bias), nn.GELU(), nn.LayerNorm(h, bias=c.bias))
                          if c.mlm_head_transform else nn.Identity())
        self.decoder = nn.Linear(h, c.vocab_size, bias=c.bias)

    def forward(self, x):
        return self.decoder(self.transform(x))


class GPNForMaskedLM(_MLMMixin, GPNPreTrainedModel):
    def __init__(self, config: GPNConfig):
        super().__init__(config)
        self.model = GPNModel(config)
        self.cls = GPNMLMHead(config)
        self.post_init()


class GPNForSequenceClassification(_SequenceMixin, GPNPreTrainedModel):
    def __init__(self, config: GPNConfig):
        super().__init__(config)
        self.model = GPNModel(config)
        self.classifier = SequenceHead(config, config.classification_head)
        self.post_init()


def register() -> None:
    """Register both families with the Auto classes (``exist_ok``: the ``gpn`` package, when also
    imported, registers the same names)."""
    for cfg, base, mlm, seq in ((ConvNetConfig, ConvNetModel, ConvNetForMaskedLM, ConvNetForSequenceClassification),
                                (GPNConfig, GPNModel, GPNForMaskedLM, GPNForSequenceClassification)):
        AutoConfig.register(cfg.model_type, cfg, exist_ok=True)
        AutoModel.register(cfg, base, exist_ok=True)
        AutoModelForMaskedLM.register(cfg, mlm, exist_ok=True)
        AutoModelForSequenceClassification.register(cfg, seq, exist_ok=True)


register()
