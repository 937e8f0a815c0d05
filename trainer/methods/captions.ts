/**
 * Captions for CLIP on image classification datasets: a class name dropped into a prompt template.
 *
 * CLIP trains on web image-text pairs; a classification dataset has only class names, so each
 * training image gets its class name in a template drawn at random per image and step (the second
 * modality carries the label and nothing else). Zero-shot classification averages the caption
 * embeddings of every template per class (CLIP's prompt ensembling, section 3.1.4).
 *
 * Pure: no TensorFlow.js, so tests and the info file can use it.
 */
import { rngFor } from '../rng';

/** Marks where the class name goes in a template. */
export const CLASS_SLOT = '{}';

/**
 * CLIP's 18 CIFAR-10 prompt templates (openai/CLIP data/prompts.md) and six of its ImageNet ones
 * that describe other renderings (drawings, sketches ...), for more varied training captions.
 */
export const DEFAULT_TEMPLATES: readonly string[] = [
  'a photo of a {}.',
  'a blurry photo of a {}.',
  'a black and white photo of a {}.',
  'a low contrast photo of a {}.',
  'a high contrast photo of a {}.',
  'a bad photo of a {}.',
  'a good photo of a {}.',
  'a photo of a small {}.',
  'a photo of a big {}.',
  'a photo of the {}.',
  'a blurry photo of the {}.',
  'a black and white photo of the {}.',
  'a low contrast photo of the {}.',
  'a high contrast photo of the {}.',
  'a bad photo of the {}.',
  'a good photo of the {}.',
  'a photo of the small {}.',
  'a photo of the big {}.',
  'a drawing of a {}.',
  'a sketch of a {}.',
  'a rendering of a {}.',
  'a doodle of a {}.',
  'a pixelated photo of a {}.',
  'a cropped photo of a {}.',
];

/** Throws naming `field` unless every template holds the class slot exactly once. */
export function checkTemplates(templates: readonly string[], field = 'params.captionTemplates'): void {
  if (templates.length === 0)
    throw new Error(`${field} is empty: give at least one template such as "a photo of a {}."`);
  templates.forEach((t, i) => {
    const slots = t.split(CLASS_SLOT).length - 1;
    if (slots !== 1) {
      throw new Error(
        `${field}[${i}] ${JSON.stringify(t)} must contain "${CLASS_SLOT}" exactly once (where the class name goes), found ${slots}`,
      );
    }
  });
}

export function fillTemplate(template: string, className: string): string {
  return template.replace(CLASS_SLOT, className);
}

/**
 * The template index of each of `n` images at `step`, drawn from `rngFor(seed, 'caption', step)`:
 * the same step gives the same captions, so a resumed run replays them.
 */
export function templateIndices(seed: number, step: number, n: number, templateCount: number): Int32Array {
  const rng = rngFor(seed, 'caption', step);
  return Int32Array.from({ length: n }, () => rng.int(templateCount));
}

/** The training captions of a batch with class `labels` at `step`. */
export function trainingCaptions(
  seed: number,
  step: number,
  labels: Int32Array,
  classNames: readonly string[],
  templates: readonly string[],
): string[] {
  const t = templateIndices(seed, step, labels.length, templates.length);
  return Array.from(labels, (label, i) => {
    const name = classNames[label];
    if (name === undefined)
      throw new Error(`caption: label ${label} has no class name (${classNames.length} classes)`);
    return fillTemplate(templates[t[i]], name);
  });
}
