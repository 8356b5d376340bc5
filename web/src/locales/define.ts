/** Same shape as T, every leaf a string: the Chinese table must have every English key. */
export type Messages<T> = { [K in keyof T]: T[K] extends string ? string : Messages<T[K]> };

export function defineMessages<T extends object>(en: T, zh: Messages<T>) {
  return { en, zh };
}
