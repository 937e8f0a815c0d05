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

export type EncoderArch = 'convnet' | 'resnet18';

export interface EncoderConfig {
  arch: EncoderArch;
  /** Channels of the first stage (ResNet-18: 64 in the paper; ConvNet: 32). */
  width: number;
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
  kind: 'sgd' | 'lars';
  /** Base learning rate, scaled by `lrScaling` with the batch size. */
  lr: number;
  lrScaling: 'linear' | 'sqrt' | 'none';
  momentum: number;
  weightDecay: number;
  /** LARS trust coefficient (eta). */
  trustCoefficient: number;
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
