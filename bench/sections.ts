/**
 * Every benchmark section, in the order `npm run bench` runs them. A new section (for instance the
 * extension at scale) is a module exporting a BenchSection, added to this list.
 */
import type { BenchSection } from './section';
import { trainerStepSection } from './section-trainer-step';

export const SECTIONS: readonly BenchSection[] = [trainerStepSection];
