import type { PartialConfig } from '../config/config';

export type MethodFamily =
  | 'memory bank'
  | 'end-to-end'
  | 'momentum / queue'
  | 'clustering'
  | 'no negatives'
  | 'transformers'
  | 'multimodal';

/** What the Methods view, the CLI's `methods` command and `initialize` show about a method. */
export interface MethodInfo {
  id: string;
  name: string;
  paper: string;
  authors: string;
  venue: string;
  year: number;
  family: MethodFamily;
  keyIdea: string;
  /** Keys of `params` this method reads (the config form shows these). */
  paramKeys: string[];
  positives: string;
  negatives: string;
  /** Official defaults, and the same recipe scaled to a CPU in minutes (scaling written down). */
  presets: { paper: PartialConfig; laptop: PartialConfig };
  laptopScaling: string;
}

import type * as tf from '@tensorflow/tfjs-core';
import type { AugmentConfig, RunConfig } from '../config/types';
import type { Normalization } from '../models/encoders';
import type { ParamStore } from '../models/params';

export interface StepContext {
  step: number;
  epoch: number;
  totalSteps: number;
  /**
   * Training-set indices of the batch's images, row by row (memory banks: InstDisc, CMC). In the
   * dry run that creates the parameters they are 0, 1, ...
   */
  indices: Int32Array;
  /**
   * Class labels of the batch's images. Only a method whose paper uses a second modality built from
   * them may read these (CLIP's captions from class names); every other method is label-free.
   */
  labels: Int32Array;
}

/** What a method may know about the dataset when it is built (sizes of memory banks, captions). */
export interface DatasetInfo {
  /** Images in the training split (InstDisc / CMC memory bank rows). */
  trainSize: number;
  classNames: string[];
}

/** A built method: its networks' state and the functions the training loop calls. */
export interface MethodModel {
  /** Every trainable parameter and buffer of every network the method has. */
  store: ParamStore;
  /** Number of augmented views per image each step needs. */
  views: number;
  /**
   * Loss for one step, run inside the gradient tape. `extra` holds method-specific scalars that
   * are logged as metrics (e.g. the positive-pair similarity).
   */
  loss(views: tf.Tensor4D[], ctx: StepContext): { loss: tf.Scalar; extra: Record<string, tf.Scalar> };
  /** Backbone features (before any head) in eval mode, used by kNN and linear probes. */
  features(x: tf.Tensor4D): tf.Tensor2D;
  /**
   * Called once after every parameter exists (after a dry forward pass) and before training or
   * restoring a checkpoint: e.g. copy the online network into its EMA target.
   */
  afterInit?(): void;
  /**
   * Called after each optimizer step, outside the gradient tape: EMA target updates (BYOL, DINO),
   * queue or memory-bank writes (MoCo, InstDisc), centre updates. Must not leak tensors.
   */
  afterStep?(ctx: StepContext): void;
  /** Per-view augmentation (asymmetric recipes such as BYOL's blur/solarize); default: the config's. */
  viewAugment?(base: AugmentConfig, view: number): AugmentConfig;
  /**
   * Zero-shot classification logits [B, classes] for images, from the class names alone (CLIP:
   * cosine similarity of image and caption embeddings, averaged over caption templates).
   */
  zeroShotLogits?(x: tf.Tensor4D, classNames: string[]): tf.Tensor2D;
  /**
   * Attention of the last block's [CLS] query over the patches, per head: [B, heads, gh, gw]
   * (ViT methods: DINO, MoCo v3), for the embeddings view's attention maps.
   */
  attentionMaps?(x: tf.Tensor4D): tf.Tensor4D;
}

export interface Method {
  info: MethodInfo;
  build(
    config: RunConfig,
    norm: Normalization,
    imageShape: [number, number, number],
    data: DatasetInfo,
  ): MethodModel;
}
