/**
 * The bounds on what the core reads and writes, from the server's settings
 * (MAX_JSON_DEPTH, MAX_ANSWER_BYTES). Step tests run with the defaults.
 */
export interface CoreLimits {
  /** Deepest nesting of a request body, an upstream body, or a step's data. */
  readonly maxJsonDepth: number
  /** Largest answer, serialized, in bytes. */
  readonly maxAnswerBytes: number
}

export const DEFAULT_LIMITS: CoreLimits = {
  maxJsonDepth: 1000,
  maxAnswerBytes: 10 * 1024 * 1024,
}
