/**
 * Every benchmark section, in the order `npm run bench` runs them. A new section (for instance the
 * extension at scale) is a module exporting a BenchSection, added to this list.
 */

import { extensionSection } from './extension/section';
import type { BenchSection } from './section';
import { convKernelsSection } from './section-conv-kernels';
import { convLayersSection } from './section-conv-layers';
import { trainerStepSection } from './section-trainer-step';

export const SECTIONS: readonly BenchSection[] = [
  trainerStepSection,
  convLayersSection,
  convKernelsSection,
  extensionSection,
];
