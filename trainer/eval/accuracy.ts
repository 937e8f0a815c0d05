/** Top-k accuracy from class scores, shared by the linear probe and zero-shot classification. */

/**
 * Counts the rows of `scores` ([n, classes], row-major) whose true class is among the k highest.
 * A row counts when fewer than k classes score strictly higher than its label, so ties resolve in
 * the label's favour and the result does not depend on a sort's tie order.
 */
export function topKCorrect(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  n: number,
  classes: number,
  k: number,
): number {
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const row = i * classes;
    const mine = scores[row + labels[i]];
    let above = 0;
    for (let c = 0; c < classes && above < k; c++) if (scores[row + c] > mine) above++;
    if (above < k) correct++;
  }
  return correct;
}

/**
 * Top-5 is reported only when it says something: with 5 classes or fewer every prediction is
 * trivially in the top 5.
 */
export function reportsTop5(classes: number): boolean {
  return classes > 5;
}
