import { InvalidArgumentError } from 'commander';

/** A commander parser for a whole number of at least `min`: the benches' counts and sizes. */
export const wholeNumber = (min: number) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new InvalidArgumentError(`expected a whole number of ${min} or more`);
  return n;
};
