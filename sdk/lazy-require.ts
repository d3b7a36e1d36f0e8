/**
 * A package loaded at its first use rather than when the module naming it is imported. Every
 * runtime process (a worker of transforms too) imports every node module of the packages it
 * has, so a package a node needs only while it runs should not cost memory everywhere
 * (issue 24: a worker of transforms within 120 MB). The stand-in loads the package at its
 * first property read, synchronously (CommonJS, through `require`); types come from the
 * package's own typings: `lazyRequire<typeof import("pkg")>(import.meta.url, "pkg")`.
 */
import { createRequire } from "node:module";

/** An object that is `load()`'s result from its first property read on. */
export function lazyObject<T extends object>(load: () => T): T {
  let loaded: T | undefined;
  return new Proxy({} as T, {
    get: (_target, key) => Reflect.get((loaded ??= load()), key),
    has: (_target, key) => key in (loaded ??= load()),
  });
}

/** The package `name`, resolved from `from` (the caller's `import.meta.url`), loaded at first use. */
export function lazyRequire<T extends object>(from: string, name: string): T {
  return lazyObject(() => createRequire(from)(name) as T);
}
