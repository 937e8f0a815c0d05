/**
 * A word-level tokenizer for CLIP's captions on classification datasets.
 *
 * CLIP uses a 49,408-token byte-pair vocabulary for web text. Here every caption is a template
 * filled with a class name, so the vocabulary is closed: the words of the templates and class names,
 * built deterministically from them (lower-cased, sorted). A checkpoint needs no vocabulary file: the
 * same templates (config) and class names (dataset) rebuild it, and `fingerprint()` lets a model
 * check that they did.
 *
 * Layout as CLIP: [start-of-text, words..., end-of-text, padding 0...] of a fixed context length,
 * with end-of-text the highest id (CLIP finds it by argmax). Unknown words (zero-shot on names the
 * model never saw) map to <unk>.
 */
import { hashKeys } from '../rng';

export const PAD = '<pad>';
export const UNK = '<unk>';
export const SOT = '<start_of_text>';
export const EOT = '<end_of_text>';

/** Words (runs of letters and digits) and single punctuation marks, lower-cased. */
export function splitWords(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu) ?? [];
}

export interface Encoded {
  /** [n, contextLength] token ids, row-major. */
  ids: Int32Array;
  /** Position of each row's end-of-text token (where CLIP reads the text feature). */
  eot: Int32Array;
}

export class WordTokenizer {
  /** Token of each id: PAD, UNK, SOT, the sorted words, EOT. */
  readonly vocab: readonly string[];
  readonly contextLength: number;
  private readonly ids: Map<string, number>;

  /**
   * Vocabulary from `texts` (every caption the model trains on); the context fits the longest of
   * them plus start and end tokens, unless `contextLength` is given.
   */
  constructor(texts: readonly string[], contextLength?: number) {
    const words = new Set<string>();
    let longest = 0;
    for (const t of texts) {
      const w = splitWords(t);
      longest = Math.max(longest, w.length);
      for (const x of w) words.add(x);
    }
    // Code-unit order, not localeCompare: the vocabulary must not depend on the machine's locale.
    const sorted = [...words].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    this.vocab = [PAD, UNK, SOT, ...sorted, EOT];
    this.ids = new Map(this.vocab.map((w, i) => [w, i]));
    this.contextLength = contextLength ?? longest + 2;
    if (this.contextLength < 2)
      throw new Error(
        `tokenizer: context length ${this.contextLength} leaves no room for start and end tokens`,
      );
  }

  get size(): number {
    return this.vocab.length;
  }

  get eotId(): number {
    return this.vocab.length - 1;
  }

  id(word: string): number {
    return this.ids.get(word) ?? 1;
  }

  /**
   * Token ids of each text, padded with 0 to the context length. A text too long for it is cut and
   * still ends with end-of-text (CLIP's `tokenize(truncate=True)`).
   */
  encode(texts: readonly string[]): Encoded {
    const L = this.contextLength;
    const ids = new Int32Array(texts.length * L);
    const eot = new Int32Array(texts.length);
    texts.forEach((t, r) => {
      const words = splitWords(t).slice(0, L - 2);
      const row = [this.id(SOT), ...words.map((w) => this.id(w)), this.eotId];
      ids.set(row, r * L);
      eot[r] = row.length - 1;
    });
    return { ids, eot };
  }

  /** A 32-bit hash of the vocabulary and context length. */
  fingerprint(): number {
    // Tokens hold no whitespace, so the newline-joined list is unambiguous.
    return hashKeys(this.contextLength, [this.vocab.join('\n')]);
  }
}
