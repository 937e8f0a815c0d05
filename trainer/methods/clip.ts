/**
 * CLIP (Radford et al., ICML 2021) on an image classification dataset.
 *
 * The second modality is a caption made from the image's class name in a prompt template drawn per
 * image and step (`captions.ts`). Per step:
 *   I = norm(W_i f_image(x))           image encoder + linear projection (no bias)
 *   T = norm(W_t f_text(caption))      causal transformer read at end-of-text + linear projection
 *   loss = (CE(s I T^T, arange) + CE(s T I^T, arange)) / 2,   s = exp(t)
 * with t = ln(1/temperature) at the start (CLIP: ln(1/0.07)) and clamped to [0, ln 100] after every
 * optimiser step (in `afterStep`, outside the tape, as open_clip does after `optimizer.step()`).
 *
 * Images of the same class in a batch get captions naming the same class (identical ones when the
 * template draw agrees): they are negatives all the same (labels arange(B), as in CLIP), so the loss
 * cannot fall to 0; it falls towards the log of the number of same-class captions per image.
 *
 * Zero-shot classification: cosine similarity of image embeddings with each class's mean of
 * normalised caption embeddings over all templates (CLIP's prompt ensembling), renormalised.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { RunConfig } from '../config/types';
import { clampLogScale, clipLogits, clipLossFromLogits } from '../losses/clip';
import { type Encoder, makeEncoder, type Normalization } from '../models/encoders';
import { type Ctx, l2Normalize } from '../models/layers';
import { ParamStore } from '../models/params';
import { type TextEncoder, textEncoder } from '../models/text-encoder';
import { WordTokenizer } from '../models/tokenizer';
import { checkTemplates, DEFAULT_TEMPLATES, fillTemplate, trainingCaptions } from './captions';
import { clipInfo } from './info/clip';
import type { DatasetInfo, Method, MethodModel } from './types';

/** Defaults for params a hand-written config may leave out (the presets set them). */
const DEFAULTS = { textWidth: 64, textLayers: 2, textHeads: 4 };

/** Captions per text-encoder call in zero-shot classification (bounds memory for many classes). */
const ZERO_SHOT_CHUNK = 256;

export interface ClipModel extends MethodModel {
  tokenizer: WordTokenizer;
  templates: readonly string[];
  /** The learnable log logit scale t (a scalar; the scale is exp(t)). */
  logScale: tf.Variable;
  /** Unnormalised joint-space embeddings of images [B, d]. */
  imageEmbed(ctx: Ctx, x: tf.Tensor4D): tf.Tensor2D;
  /** Unnormalised joint-space embeddings of captions [B, d]. */
  textEmbed(ctx: Ctx, captions: readonly string[]): tf.Tensor2D;
  /** Per class, the renormalised mean of the normalised embeddings of its captions over all templates: [C, d]. */
  classEmbeddings(classNames: readonly string[]): tf.Tensor2D;
}

/** Every caption the model can be trained on: each template with each class name. */
export function allCaptions(templates: readonly string[], classNames: readonly string[]): string[] {
  return classNames.flatMap((c) => templates.map((t) => fillTemplate(t, c)));
}

/**
 * CLIP's prompt ensembling: caption embeddings [C * T, d], class-major (class c's T templates in
 * rows c T .. c T + T - 1), each normalised, averaged per class and renormalised: [C, d].
 */
export function ensembleClassEmbeddings(
  captionEmbeddings: tf.Tensor2D,
  classes: number,
  templates: number,
): tf.Tensor2D {
  return tf.tidy(() => {
    const d = captionEmbeddings.shape[1];
    const mean = tf.mean(
      tf.reshape(l2Normalize(captionEmbeddings), [classes, templates, d]),
      1,
    ) as tf.Tensor2D;
    return l2Normalize(mean);
  });
}

/** Zero-shot logits: cosine similarity of each image embedding [B, d] with each class embedding [C, d] (unit norm). */
export function zeroShotFromEmbeddings(
  imageEmbeddings: tf.Tensor2D,
  classEmbeddings: tf.Tensor2D,
): tf.Tensor2D {
  return tf.tidy(() => tf.matMul(l2Normalize(imageEmbeddings), classEmbeddings, false, true) as tf.Tensor2D);
}

/** The fingerprint as two 16-bit halves: float32 holds each exactly. */
function fingerprintHalves(f: number): [number, number] {
  return [Math.floor(f / 65536), f % 65536];
}

export function buildClip(
  config: RunConfig,
  norm: Normalization,
  imageShape: [number, number, number],
  data: DatasetInfo,
): ClipModel {
  const p = config.params;
  const templates = p.captionTemplates ?? DEFAULT_TEMPLATES;
  checkTemplates(templates);
  if (data.classNames.length === 0)
    throw new Error('CLIP needs class names for its captions; the dataset has none.');
  if (config.head.hidden.length > 0 || config.head.outputBn) {
    throw new Error(
      `CLIP projects each encoder linearly into the joint space: head.hidden must be [] and head.outputBn false (got hidden [${config.head.hidden}], outputBn ${config.head.outputBn}); head.out is the joint dimension.`,
    );
  }
  const dim = config.head.out;
  const tokenizer = new WordTokenizer(allCaptions(templates, data.classNames));

  const store = new ParamStore(config.seed);
  const image: Encoder = makeEncoder('online.encoder', config.encoder, norm, imageShape[0]);
  const text: TextEncoder = textEncoder('online.text', {
    vocabSize: tokenizer.size,
    contextLength: tokenizer.contextLength,
    width: p.textWidth ?? DEFAULTS.textWidth,
    layers: p.textLayers ?? DEFAULTS.textLayers,
    heads: p.textHeads ?? DEFAULTS.textHeads,
  });
  // CLIP stores the scale as its log (model.py: logit_scale = ln(1/0.07)); a 'bias' role keeps it
  // out of weight decay, as open_clip's exclude list does.
  const logScale = store.param('online.logit_scale', [], { kind: 'zeros' }, 'bias');
  logScale.assign(tf.scalar(Math.log(1 / p.temperature)));
  // The tokenizer is rebuilt from the templates and class names, not saved; a checkpoint records
  // its fingerprint so a mismatch is caught instead of silently scrambling the token embeddings.
  const fingerprint = tokenizer.fingerprint();
  const stored = store.buffer('tokenizer.fingerprint', [2], { kind: 'zeros' });
  stored.assign(tf.tensor1d(fingerprintHalves(fingerprint)));
  let verified = false;
  const verifyTokenizer = () => {
    if (verified) return;
    const [hi, lo] = stored.dataSync();
    const got = hi * 65536 + lo;
    if (got !== fingerprint) {
      throw new Error(
        `CLIP: the checkpoint's caption vocabulary (fingerprint ${got}) differs from the one rebuilt from this dataset's class names and params.captionTemplates (${fingerprint}); use the dataset and templates it was trained with.`,
      );
    }
    verified = true;
  };

  const project = (ctx: Ctx, name: string, h: tf.Tensor2D): tf.Tensor2D => {
    const w = ctx.ps.param(
      `online.${name}.weight`,
      [h.shape[1], dim],
      { kind: 'normal', std: h.shape[1] ** -0.5 },
      'weight',
    );
    return tf.matMul(h, w as tf.Tensor2D);
  };
  const imageEmbed = (ctx: Ctx, x: tf.Tensor4D) => project(ctx, 'image_projection', image.forward(ctx, x));
  const textEmbed = (ctx: Ctx, captions: readonly string[]) => {
    const { ids, eot } = tokenizer.encode(captions);
    const tokens = tf.tensor2d(ids, [captions.length, tokenizer.contextLength], 'int32');
    return project(ctx, 'text_projection', text.forward(ctx, tokens, eot));
  };

  const classEmbeddings = (classNames: readonly string[]): tf.Tensor2D =>
    tf.tidy(() => {
      const ctx: Ctx = { ps: store, training: false };
      const captions = allCaptions(templates, classNames);
      const parts: tf.Tensor2D[] = [];
      for (let s = 0; s < captions.length; s += ZERO_SHOT_CHUNK) {
        parts.push(textEmbed(ctx, captions.slice(s, s + ZERO_SHOT_CHUNK)));
      }
      const all = parts.length === 1 ? parts[0] : (tf.concat(parts, 0) as tf.Tensor2D);
      return ensembleClassEmbeddings(all, classNames.length, templates.length);
    });

  return {
    store,
    views: 1,
    tokenizer,
    templates,
    logScale,
    imageEmbed,
    textEmbed,
    classEmbeddings,
    loss(views, ctx) {
      if (!store.dryRun) verifyTokenizer();
      const x = views[0];
      if (ctx.labels.length !== x.shape[0]) {
        throw new Error(`CLIP: ${ctx.labels.length} labels for a batch of ${x.shape[0]} images`);
      }
      const captions = trainingCaptions(config.seed, ctx.step, ctx.labels, data.classNames, templates);
      const c: Ctx = { ps: store, training: true };
      const logits = clipLogits(imageEmbed(c, x), textEmbed(c, captions), logScale);
      const loss = clipLossFromLogits(logits);
      const extra = tf.tidy(() => {
        const labels = tf.tensor1d(ctx.labels, 'int32');
        // Retrieval accuracy at the class level: the best caption in the batch names the image's class.
        const top = tf.gather(labels, tf.argMax(logits, 1));
        return {
          logit_scale: tf.exp(logScale) as tf.Scalar,
          caption_acc: tf.mean(tf.cast(tf.equal(top, labels), 'float32')) as tf.Scalar,
        };
      });
      return { loss, extra };
    },
    features(x) {
      return image.forward({ ps: store, training: false }, x);
    },
    afterStep() {
      tf.tidy(() => {
        logScale.assign(clampLogScale(logScale));
      });
    },
    zeroShotLogits(x, classNames) {
      verifyTokenizer();
      return tf.tidy(() =>
        zeroShotFromEmbeddings(imageEmbed({ ps: store, training: false }, x), classEmbeddings(classNames)),
      );
    },
  };
}

export const clip: Method = {
  info: clipInfo,
  build: buildClip,
};
