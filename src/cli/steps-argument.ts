import { testedStepsPath } from '../step-tests/test-file.js'

/**
 * What to say when a step-tests file is given where the steps file is
 * expected (`test-steps steps.test.yaml`), or undefined for any other path:
 * reading it as a steps file would check or run the wrong thing.
 */
export function stepTestsFileGiven(path: string): string | undefined {
  const steps = testedStepsPath(path)
  return steps === undefined ? undefined : `that is a step-tests file; pass the steps file it tests: ${steps}`
}
