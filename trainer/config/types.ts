/**
 * The run configuration (`config.json`). `schema.json` beside this file is the validator's truth
 * and must describe exactly this shape; `test/trainer/config.test.ts` checks they agree.
 */

export type DatasetKind = 'synthetic' | 'mnist' | 'fashion-mnist' | 'cifar10' | 'cifar100' | 'imagefolder';

export interface DatasetConfig {
  kind: DatasetKind;
  /** Folder holding the files (IDX, CIFAR binary, image folder). Unused for `synthetic`. */
  path?: string;
  /** Use at most this many training / test images (0 = all). */
  trainLimit: number;
  testLimit: number;
  /** `synthetic` only: images per split and generator seed. */
  syntheticTrain: number;
  syntheticTest: number;
  syntheticSeed: number;
  /** `imagefolder` only: images are resized to this square size. */
  imageSize: number;
}

export interface ColorJitterConfig {
  /** Probability that jitter is applied to an image at all. */
  p: number;
  brightness: number;
  contrast: number;
  saturation: number;
  hue: number;
}

/** One view's augmentation pipeline (SimCLR order: crop+flip, colour jitter, grayscale, blur, solarize). */
export interface AugmentConfig {
  /** Output side in pixels; 0 = the dataset's own size. */
  size: number;
  /** Random resized crop: area fraction and aspect-ratio ranges. */
  cropScale: [number, number];
  cropRatio: [number, number];
  flip: number;
  colorJitter: ColorJitterConfig;
  grayscale: number;
  blur: { p: number; sigma: [number, number] };
  solarize: { p: number; threshold: number };
}

export type EncoderArch = 'convnet' | 'resnet18' | 'vit';

export interface EncoderConfig {
  arch: EncoderArch;
  /** Channels of the first stage (ResNet-18: 64 in the paper; ConvNet: 32); ViT: token dimension. */
  width: number;
  /** ViT only: patch side in pixels (default 16). */
  patchSize?: number;
  /** ViT only: number of transformer blocks (default 12). */
  depth?: number;
  /** ViT only: attention heads (default width / 64). */
  heads?: number;
  /** ViT only: MLP hidden width / token dimension (default 4). */
  mlpRatio?: number;
  /** ViT only: learned position embeddings or MoCo v3's fixed 2-D sin-cos table (default learned). */
  posEmbed?: 'learned' | 'sincos';
}

export interface HeadConfig {
  /** Hidden layer widths of the projection MLP (Linear + BN + ReLU each). */
  hidden: number[];
  /** Output (embedding) dimension. */
  out: number;
  /** BatchNorm on the output layer (SimCLR v1 does). */
  outputBn: boolean;
}

export interface OptimizerConfig {
  kind: 'sgd' | 'lars' | 'adamw';
  /** Base learning rate, scaled by `lrScaling` with the batch size. */
  lr: number;
  lrScaling: 'linear' | 'sqrt' | 'none';
  momentum: number;
  weightDecay: number;
  /** LARS trust coefficient (eta). */
  trustCoefficient: number;
  /** AdamW second-moment decay (default 0.999); its beta1 is `momentum`. */
  beta2?: number;
  /** Biases and BatchNorm parameters get neither weight decay nor LARS adaptation. */
  excludeBiasAndNorm: boolean;
}

export interface ScheduleConfig {
  kind: 'cosine' | 'constant';
  warmupEpochs: number;
}

export interface TrainingConfig {
  epochs: number;
  batchSize: number;
  /** Write a checkpoint every this many epochs (and always at the end and on stop). */
  checkpointEvery: number;
  /** Keep only the newest this many periodic checkpoints (0 = keep all). */
  keepCheckpoints: number;
  /** Write a metrics row every this many steps. */
  logEvery: number;
}

export interface KnnConfig {
  /** Evaluate every this many epochs (0 = never); always also at the end. */
  every: number;
  k: number;
  temperature: number;
  /** Run the kNN monitor once before training (epoch 0), giving the random-init baseline. */
  atStart: boolean;
}

export interface SimclrParams {
  temperature: number;
}

/** Hyper-parameters other methods use; each method reads the ones it needs. */
export interface MethodParams {
  temperature?: number;
  queueSize?: number;
  momentum?: number;
  momentumSchedule?: 'constant' | 'cosine';
  shuffleBn?: 'none' | 'groups';
  bnGroups?: number;
  predictorHidden?: number;
  stopGradient?: boolean;
  fixPredictorLr?: boolean;
  /** MoCo v3: the ViT's patch projection keeps its random initial values (--stop-grad-conv1). */
  freezePatchEmbed?: boolean;
  /** InstDisc / CMC: objective over the memory bank. */
  bankLoss?: 'nce' | 'softmax';
  /** InstDisc / CMC: noise samples per anchor (--nce-k); 0 = every entry (softmax only). */
  nceK?: number;
  /** InstDisc / CMC: memory update v <- norm(m v + (1 - m) f) (--nce-m). */
  bankMomentum?: number;
  /** InstDisc / CMC: bank rows start random (the papers) or from each row's first feature. */
  bankInit?: 'random' | 'first-write';
  /** CMC: the two views (auto: L / ab for colour, intensity / gradient for grayscale). */
  cmcViews?: 'auto' | 'intensity-gradient';
  /** SwAV: prototypes K; DINO: output dimension K of the head. */
  prototypes?: number;
  /** SwAV: Sinkhorn-Knopp epsilon and iterations. */
  sinkhornEpsilon?: number;
  sinkhornIterations?: number;
  /** SwAV: epoch from which the queue of past embeddings is filled. */
  queueStartEpoch?: number;
  /** SwAV: iterations without gradient for the prototypes. */
  freezePrototypesSteps?: number;
  /** SwAV, DINO multi-crop: small crops per image, their side in pixels and area range. */
  localCrops?: number;
  localCropSize?: number;
  localCropScale?: [number, number];
  /** DINO: teacher temperature, its epoch-0 value and warm-up length in epochs. */
  teacherTemperature?: number;
  warmupTeacherTemperature?: number;
  warmupTeacherEpochs?: number;
  /** DINO: EMA coefficient of the teacher-output centre. */
  centerMomentum?: number;
  /** DINO: weight-norm gain of the head's last layer fixed to 1. */
  normLastLayer?: boolean;
  /** DINO: epochs during which the head's last layer gets no gradient. */
  freezeLastLayerEpochs?: number;
  /** CPC: patches per side of the half-overlapping grid. */
  patchGrid?: number;
  /** CPC: prediction steps K (one linear predictor each). */
  predictionSteps?: number;
  /** CPC: rows skipped between the context row and the first predicted row. */
  skipRows?: number;
  /** CPC: residual masked-convolution blocks of the context network. */
  contextBlocks?: number;
  /** SimCLR v2: projection-head layer whose output `features()` returns (0 = encoder). */
  ftProjSelector?: number;
  /** SimCLR v2: MoCo-style memory of momentum-network negatives. */
  memory?: boolean;
  /** CLIP: text transformer width, blocks and heads. */
  textWidth?: number;
  textLayers?: number;
  textHeads?: number;
  /** CLIP: caption templates with `{}` for the class name. */
  captionTemplates?: string[];
}

export interface RunConfig {
  version: 1;
  method: string;
  /** Method-specific hyper-parameters; their schema depends on `method`. */
  params: MethodParams & SimclrParams;
  seed: number;
  dataset: DatasetConfig;
  encoder: EncoderConfig;
  head: HeadConfig;
  augment: AugmentConfig;
  optimizer: OptimizerConfig;
  schedule: ScheduleConfig;
  training: TrainingConfig;
  eval: { knn: KnnConfig };
}
