"""The Keras objects a model config may name without running code from outside Keras' own
arithmetic: built-in layers, initializers, regularizers, constraints, optimizers, schedules,
losses, metrics, dtype policies and models, and the activation/loss/metric functions.

Everything else is flagged, including classes that ship with Keras but load code or data by
design: ``TorchModuleWrapper`` (``torch.load`` of an embedded pickle, CVE-2025-49655),
``JaxLayer``/``FlaxLayer`` (wrap arbitrary callables), ``TFSMLayer`` (loads a SavedModel from
a path) and any function from ``keras.utils``/``keras.config``/``keras.saving``
(``get_file``, ``enable_unsafe_deserialization``: CVE-2025-8747, CVE-2025-9906).
Lambda layers (``Lambda``, ``TFOpLambda``, ``SlicingOpLambda``, ``__lambda__``) have their
own finding.
"""

from __future__ import annotations

KERAS_PACKAGES = ("keras", "tf_keras", "tensorflow.keras", "tensorflow.python.keras")
"""Module roots that are Keras itself (the module must be one of these or under one)."""

_LAYERS = """
Activation ActivityRegularization Add AdditiveAttention AlphaDropout Attention AugMix
AutoContrast Average AveragePooling1D AveragePooling2D AveragePooling3D AvgPool1D AvgPool2D
AvgPool3D BatchNormalization Bidirectional CategoryEncoding CenterCrop Concatenate Conv1D
Conv1DTranspose Conv2D Conv2DTranspose Conv3D Conv3DTranspose ConvLSTM1D ConvLSTM2D ConvLSTM3D
Convolution1D Convolution1DTranspose Convolution2D Convolution2DTranspose Convolution3D
Convolution3DTranspose Cropping1D Cropping2D Cropping3D CutMix Dense DepthwiseConv1D
DepthwiseConv2D Discretization Dot Dropout ELU EinsumDense Embedding Equalization Flatten
GaussianDropout GaussianNoise GlobalAveragePooling1D GlobalAveragePooling2D
GlobalAveragePooling3D GlobalAvgPool1D GlobalAvgPool2D GlobalAvgPool3D GlobalMaxPool1D
GlobalMaxPool2D GlobalMaxPool3D GlobalMaxPooling1D GlobalMaxPooling2D GlobalMaxPooling3D
GroupNormalization GroupQueryAttention GRU GRUCell GRUV1 GRUV2 HashedCrossing Hashing Identity
InputLayer InputSpec IntegerLookup LayerNormalization LeakyReLU LSTM LSTMCell LSTMV1 LSTMV2
Masking MaxPool1D MaxPool2D MaxPool3D MaxPooling1D MaxPooling2D MaxPooling3D Maximum
MelSpectrogram Minimum MixUp MultiHeadAttention Multiply Normalization Permute Pipeline PReLU
RandAugment RandomBrightness RandomColorDegeneration RandomColorJitter RandomContrast
RandomCrop RandomElasticTransform RandomErasing RandomFlip RandomGaussianBlur RandomGrayscale
RandomHeight RandomHue RandomInvert RandomPerspective RandomPosterization RandomRotation
RandomSaturation RandomSharpness RandomShear RandomTranslation RandomWidth RandomZoom ReLU
RepeatVector Rescaling Reshape Resizing ReversibleEmbedding RMSNormalization RNN
SeparableConv1D SeparableConv2D SeparableConvolution1D SeparableConvolution2D SimpleRNN
SimpleRNNCell Softmax Solarization SpatialDropout1D SpatialDropout2D SpatialDropout3D
SpectralNormalization StackedRNNCells STFTSpectrogram StringLookup Subtract TextVectorization
ThresholdedReLU TimeDistributed UnitNormalization UpSampling1D UpSampling2D UpSampling3D
ZeroPadding1D ZeroPadding2D ZeroPadding3D CuDNNGRU CuDNNLSTM LocallyConnected1D
LocallyConnected2D SyncBatchNormalization PeepholeLSTMCell AbstractRNNCell
"""
_MODELS = "Sequential Functional Model"
_INITIALIZERS = """
Constant GlorotNormal GlorotUniform HeNormal HeUniform IdentityInitializer LecunNormal
LecunUniform Ones Orthogonal OrthogonalInitializer RandomNormal RandomUniform STFTInitializer
TruncatedNormal VarianceScaling Zeros constant glorot_normal glorot_uniform he_normal
he_uniform identity lecun_normal lecun_uniform ones orthogonal random_normal random_uniform
truncated_normal variance_scaling zeros
"""
_REGULARIZERS_CONSTRAINTS = """
L1 L2 L1L2 OrthogonalRegularizer MaxNorm MinMaxNorm NonNeg UnitNorm RadialConstraint
"""
_OPTIMIZERS = """
Adadelta Adafactor Adagrad Adam AdamW Adamax Ftrl Lamb Lion LossScaleOptimizer Muon Nadam
RMSprop SGD CosineDecay CosineDecayRestarts ExponentialDecay InverseTimeDecay
PiecewiseConstantDecay PolynomialDecay
"""
_LOSSES_METRICS = """
BinaryCrossentropy BinaryFocalCrossentropy CategoricalCrossentropy
CategoricalFocalCrossentropy CategoricalHinge Circle CosineSimilarity CTC Dice Hinge Huber
KLDivergence LogCosh LossFunctionWrapper MeanAbsoluteError MeanAbsolutePercentageError MeanSquaredError
MeanSquaredLogarithmicError Poisson SparseCategoricalCrossentropy SquaredHinge Tversky
Accuracy AUC BinaryAccuracy BinaryIoU CategoricalAccuracy ConcordanceCorrelation F1Score
FBetaScore FalseNegatives FalsePositives IoU LogCoshError Mean MeanIoU MeanMetricWrapper
OneHotIoU OneHotMeanIoU PearsonCorrelation Precision PrecisionAtRecall R2Score Recall
RecallAtPrecision RootMeanSquaredError SensitivityAtSpecificity SparseCategoricalAccuracy
SparseTopKCategoricalAccuracy SpecificityAtSensitivity Sum TopKCategoricalAccuracy
TrueNegatives TruePositives
"""
_DTYPES_AND_VALUES = """
DTypePolicy FloatDTypePolicy QuantizedDTypePolicy QuantizedFloat8DTypePolicy DTypePolicyMap
Policy __tuple__ __keras_tensor__ __numpy__ __bytes__ __tensor__ __ellipsis__ __slice__
__typespec__ __complex__ __int__ __float__ __str__ TensorShape
"""

OPTIMIZERS = frozenset(_OPTIMIZERS.split())
"""TensorFlow 2.11+ writes its own optimizers as ``Custom>Adam`` in legacy .h5 training
configs; only these names are accepted with that prefix."""

SAFE_CLASSES = frozenset(" ".join((
    _LAYERS, _MODELS, _INITIALIZERS, _REGULARIZERS_CONSTRAINTS, _OPTIMIZERS, _LOSSES_METRICS,
    _DTYPES_AND_VALUES)).split())
"""Class names (``class_name``) of Keras objects that are pure configuration."""

LAMBDA_CLASSES = frozenset({"Lambda", "TFOpLambda", "SlicingOpLambda", "__lambda__",
                            "TensorFlowOpLayer"})
"""Objects that carry or name Python code to run (marshalled bytecode or a TF op name)."""

SAFE_FUNCTION_MODULES = ("activations", "losses", "metrics")
"""A ``"class_name": "function"`` object is accepted only from these Keras packages (any
depth under the Keras roots, e.g. ``keras.src.activations.activations``)."""

_FUNCTIONS = """
celu elu exponential gelu glu hard_shrink hard_sigmoid hard_silu hard_swish hard_tanh leaky_relu
linear log_sigmoid log_softmax mish relu relu6 selu sigmoid silu soft_shrink softmax softplus
softsign sparse_plus sparse_sigmoid sparsemax squareplus swish tanh tanh_shrink threshold
binary_crossentropy binary_focal_crossentropy categorical_crossentropy
categorical_focal_crossentropy categorical_hinge cosine_similarity ctc dice hinge huber
kl_divergence kld kullback_leibler_divergence log_cosh logcosh mae mape mean_absolute_error
mean_absolute_percentage_error mean_squared_error mean_squared_logarithmic_error mse msle
poisson sparse_categorical_crossentropy squared_hinge tversky circle accuracy binary_accuracy
categorical_accuracy sparse_categorical_accuracy sparse_top_k_categorical_accuracy
top_k_categorical_accuracy binary_iou
"""
SAFE_FUNCTIONS = frozenset(_FUNCTIONS.split())
"""Function names accepted from :data:`SAFE_FUNCTION_MODULES`."""


def is_keras_module(module: str) -> bool:
    """True when ``module`` is one of :data:`KERAS_PACKAGES` or inside one."""
    return any(module == root or module.startswith(root + ".") for root in KERAS_PACKAGES)


def is_safe_function_module(module: str) -> bool:
    """True for the activation, loss and metric modules of Keras."""
    if not is_keras_module(module):
        return False
    parts = module.split(".")
    return any(part in SAFE_FUNCTION_MODULES for part in parts[1:]) and not any(
        part in ("utils", "config", "saving", "backend", "ops", "layers", "models")
        for part in parts[1:])
