/**
 * Compares a guarded gateway's answer with the answer it is checked against (an allow-all gateway's, or an admin's):
 * the same shape and values, except values nulled with an error at or below them. Each problem found is pushed, with
 * its path. `errorPaths` null: the error list was cut (TOO_MANY_ERRORS), so a null is not checked for its error.
 */
export function compareAnswers(mine: unknown, reference: unknown, path: (string | number)[], errorPaths: string[] | null, problems: string[]): void {
  if (mine === null) {
    if (reference !== null && errorPaths !== null && !errorPaths.some((error) => error.startsWith(JSON.stringify(path).slice(0, -1)))) problems.push(`null without error at ${path.join('.')}`);
    return;
  }
  if (Array.isArray(mine)) {
    if (!Array.isArray(reference) || reference.length !== mine.length) return void problems.push(`list differs at ${path.join('.')}`);
    mine.forEach((item, index) => compareAnswers(item, reference[index], [...path, index], errorPaths, problems));
    return;
  }
  if (typeof mine === 'object') {
    if (reference === null || typeof reference !== 'object') return void problems.push(`object where reference has ${JSON.stringify(reference)} at ${path.join('.')}`);
    const keys = Object.keys(mine as object).sort().join(',');
    const referenceKeys = Object.keys(reference as object).sort().join(',');
    if (keys !== referenceKeys) problems.push(`keys ${keys} vs ${referenceKeys} at ${path.join('.')}`);
    for (const [key, value] of Object.entries(mine as object)) compareAnswers(value, (reference as Record<string, unknown>)[key], [...path, key], errorPaths, problems);
    return;
  }
  if (mine !== reference) problems.push(`value ${JSON.stringify(mine)} vs ${JSON.stringify(reference)} at ${path.join('.')}`);
}
