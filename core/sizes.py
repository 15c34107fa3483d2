"""Sizes of a model from its configuration alone: what ``build_model(config)`` would store and
compute, counted without allocating anything, so hostile configurations (a card announcing
hidden widths of 40,000, images of 2000 x 2000) are measured and refused safely.

    layer_sizes(config)                  every layer: values stored, values computed per image
    parameter_count(config)              the values the built model stores (its state_dict)
    training_memory_bytes(config, ...)   what training it needs: Adam's copies, activations, images

``ModelConfig.validate`` refuses configurations over the caps below.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

# Channels of the stride-2 convolutions: 2 stages as ever (28x28 digits); 4 for 64x64 faces,
# as in Higgins et al.'s beta-VAE (32, 32, 64, 64 channels down to a 4x4 grid).
CONV_CHANNELS = {2: (32, 64), 4: (32, 32, 64, 64)}
# Size caps, checked by ModelConfig.validate from the configuration alone, before anything is built.
MAX_PIXELS_PER_IMAGE = 256 * 256  # height x width of the images a model reads (the Train page's largest resize)
MAX_CHANNELS = 3  # gray (1) or RGB (3)
MAX_PARAMETERS = 20_000_000  # 80 MB of float32 weights; training holds about four copies (weights, gradients, Adam's two moments)
FLOAT_BYTES = 4  # models train and are stored in float32


class ArchitectureFields(Protocol):
    """What the sizes read of a core.models.ModelConfig (this module sits below it)."""

    kind: str
    image_shape: tuple[int, int, int]
    latent_dim: int
    hidden: tuple[int, ...]
    architecture: str
    conv_stages: int

    @property
    def num_pixels(self) -> int: ...


class LayerSize(NamedTuple):
    """One layer of a model as the configuration fixes it, for sizes computed without building it."""

    parameters: int  # values the layer stores (weights and bias; PCA's fitted buffers)
    outputs: int  # values it computes per image (what training keeps for the backward pass)


def _dense_sizes(widths: list[int]) -> list[LayerSize]:
    """The layers of ``mlp(widths)``: an (a -> b) linear layer stores a * b + b values."""
    return [LayerSize(a * b + b, b) for a, b in zip(widths[:-1], widths[1:])]


def _conv_sizes(config: ArchitectureFields, out_dim: int) -> tuple[list[LayerSize], list[LayerSize]]:
    """ConvEncoder's and ConvDecoder's layers: 4x4 kernels, stride 2 (each stage halves the sides)."""
    c, h, w = config.image_shape
    channels = CONV_CHANNELS[config.conv_stages]
    scale = 2 ** config.conv_stages
    encoder, side = [], (h, w)
    for c_in, c_out in zip((c, *channels[:-1]), channels):
        side = (side[0] // 2, side[1] // 2)
        encoder.append(LayerSize(c_in * c_out * 16 + c_out, c_out * side[0] * side[1]))
    grid = channels[-1] * (h // scale) * (w // scale)
    encoder += _dense_sizes([grid, *config.hidden, out_dim])
    decoder = _dense_sizes([config.latent_dim, *reversed(config.hidden), grid])
    reversed_channels = channels[::-1]
    for c_in, c_out in zip(reversed_channels, (*reversed_channels[1:], c)):
        side = (side[0] * 2, side[1] * 2)
        decoder.append(LayerSize(c_in * c_out * 16 + c_out, c_out * side[0] * side[1]))
    return encoder, decoder


def layer_sizes(config: ArchitectureFields) -> list[LayerSize]:
    """Every layer of the model ``build_model(config)`` would build, encoder then decoder, from
    the configuration alone (nothing is allocated: hostile configurations are measured safely)."""
    p, d = config.num_pixels, config.latent_dim
    if config.kind == "pca":
        return [LayerSize(d * p + p + d, d), LayerSize(0, p)]  # components, mean, explained variance
    if config.kind == "linear-ae":
        return _dense_sizes([p, d]) + _dense_sizes([d, p])
    out_dim = 2 * d if config.kind == "vae" else d
    if config.architecture == "conv":
        encoder, decoder = _conv_sizes(config, out_dim)
        return encoder + decoder
    return _dense_sizes([p, *config.hidden, out_dim]) + _dense_sizes([d, *reversed(config.hidden), p])


def parameter_count(config: ArchitectureFields) -> int:
    """Values the built model stores (its state_dict: parameters, and PCA's fitted buffers), from the configuration."""
    return sum(layer.parameters for layer in layer_sizes(config))


def training_memory_bytes(config: ArchitectureFields, batch_size: int, n_images: int) -> int:
    """Memory a training process needs for the model and its data, from the configuration alone.

    Weights, gradients and Adam's two moments (4 copies of the parameters); each layer's
    outputs for a batch, kept for the backward pass, plus their gradients (2 copies); the
    images as float32, held twice (the loaded array and the training tensor). The process itself
    comes on top: importing torch (700 MB resident on a CPU machine), and some 150-200 MB more
    once training starts (measured: a VAE on 5,000 28x28 images took 246 MB beyond the import for
    this estimate's 46 MB; on 2,000 128x128 images 506 MB for 358 MB).
    """
    params = parameter_count(config)
    activations = sum(layer.outputs for layer in layer_sizes(config))
    images = int(n_images) * config.num_pixels
    return FLOAT_BYTES * (4 * params + 2 * int(batch_size) * activations + 2 * images)


def image_problem(image_shape: tuple[int, int, int]) -> str | None:
    """Why images of this shape are too large for a model (the caps above), or None."""
    channels, height, width = image_shape
    if channels > MAX_CHANNELS or height * width > MAX_PIXELS_PER_IMAGE:
        return (f"image_shape={tuple(image_shape)} is too large: at most {MAX_CHANNELS} channels and "
                f"{MAX_PIXELS_PER_IMAGE:,} pixels per image (e.g. 256 x 256) are accepted; resize the images")
    return None


def size_problem(config: ArchitectureFields) -> str | None:
    """Why a model of this configuration is too large to build (the caps above), or None."""
    if problem := image_problem(config.image_shape):
        return problem
    params = parameter_count(config)
    if params > MAX_PARAMETERS:
        return (f"the model would have {params:,} parameters ({params * FLOAT_BYTES / 1e6:,.0f} MB); at most "
                f"{MAX_PARAMETERS:,} are accepted. Use smaller hidden widths (hidden={tuple(config.hidden)}) or "
                f"smaller images (image_shape={tuple(config.image_shape)})")
    return None


# torch's messages when an allocator is refused memory (CPU, CUDA, MPS); a MemoryError is Python's.
_ALLOCATION_FAILURES = ("DefaultCPUAllocator", "can't allocate memory", "out of memory", "not enough memory",
                        "std::bad_alloc")


def is_allocation_failure(err: BaseException) -> bool:
    """Whether ``err`` says the memory ran out: a MemoryError, or torch's RuntimeError from an allocator."""
    return isinstance(err, MemoryError) or (
        isinstance(err, RuntimeError) and any(text in str(err) for text in _ALLOCATION_FAILURES))


def out_of_memory_message(what: str) -> str:
    """What to say, in one line, when ``what`` ran out of memory (the caller has dropped the exception
    and its frames, so the memory they held is free again)."""
    return (f"{what} ran out of memory and was stopped; nothing was saved. Use smaller images, smaller "
            "hidden widths or a smaller batch (a model may have at most "
            f"{MAX_PARAMETERS:,} parameters and {MAX_PIXELS_PER_IMAGE:,} pixels per image).")
