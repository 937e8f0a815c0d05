/** In-memory image data shared by every dataset loader. */

/** One split: `n` images of `height x width x channels` uint8 pixels, row-major NHWC. */
export interface ImageSplit {
  images: Uint8Array;
  labels: Int32Array;
  n: number;
  height: number;
  width: number;
  channels: 1 | 3;
}

export interface Dataset {
  /** Human-readable name, e.g. "synthetic-shapes", "fashion-mnist". */
  name: string;
  classNames: string[];
  train: ImageSplit;
  test: ImageSplit;
}

/** Thrown for any problem with a dataset file: the message names the file and what is wrong. */
export class DatasetError extends Error {
  constructor(
    message: string,
    readonly file?: string,
  ) {
    super(message);
    this.name = 'DatasetError';
  }
}
