/**
 * Python's `random.Random`, reproduced: the MT19937 Mersenne Twister seeded the way
 * CPython seeds it from an integer, with the same `random()`, `getrandbits`,
 * `randbelow` and `sample` algorithms. KSWIN draws its reference sample with
 * `random.Random(seed).sample(...)` in River, so giving the same draws for the same
 * seed is what lets our KSWIN make River's detections; samplers and permutation
 * tests use it too, so a seed means the same thing everywhere in Evoflow.
 * No npm package reproduces CPython's integer seeding and `sample`, hence this file.
 *
 * @example
 * ```ts
 * import { PythonRandom } from "./random";
 * const rng = new PythonRandom(42);
 * console.log(rng.random());
 * console.log(rng.sample(70, 3).join(" "));
 * console.log(rng.choices([0, 1], 8).join(" "));
 * // 0.6394267984578837
 * // 3 35 31
 * // 0 1 1 1 0 0 0 0
 * ```
 */
const N = 624;
const M = 397;

export class PythonRandom {
  private readonly mt = new Uint32Array(N);
  private index = N + 1;

  constructor(seed: number = Date.now()) {
    this.seed(seed);
  }

  /** CPython's `random.seed(int)`: init_by_array over the 32-bit words of |seed|. */
  seed(seed: number): void {
    if (!Number.isInteger(seed)) throw new Error(`seed must be an integer, got ${seed}`);
    let rest = Math.abs(seed);
    const key: number[] = [];
    do {
      key.push(rest % 0x1_0000_0000);
      rest = Math.floor(rest / 0x1_0000_0000);
    } while (rest > 0);
    this.initByArray(key);
  }

  private initGenrand(s: number): void {
    const mt = this.mt;
    mt[0] = s >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    this.index = N;
  }

  private initByArray(key: number[]): void {
    const mt = this.mt;
    this.initGenrand(19650218);
    let i = 1;
    let j = 0;
    for (let k = Math.max(N, key.length); k > 0; k--) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = ((mt[i] ^ Math.imul(prev, 1664525)) + key[j] + j) >>> 0;
      i++;
      j++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
      if (j >= key.length) j = 0;
    }
    for (let k = N - 1; k > 0; k--) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = ((mt[i] ^ Math.imul(prev, 1566083941)) - i) >>> 0;
      i++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
    }
    mt[0] = 0x80000000;
  }

  private twist(): void {
    const mt = this.mt;
    for (let k = 0; k < N; k++) {
      const y = (mt[k] & 0x80000000) | (mt[(k + 1) % N] & 0x7fffffff);
      mt[k] = mt[(k + M) % N] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.index = 0;
  }

  /** One 32-bit output of the generator. */
  uint32(): number {
    if (this.index >= N) this.twist();
    let y = this.mt[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** A float in [0, 1) with 53 random bits, as `random.random()`. */
  random(): number {
    const a = this.uint32() >>> 5;
    const b = this.uint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** `random.getrandbits(k)` for k ≤ 53 (lower words are drawn first, as CPython does). */
  getrandbits(k: number): number {
    if (k <= 32) return k === 0 ? 0 : this.uint32() >>> (32 - k);
    if (k > 53) throw new Error("getrandbits supports at most 53 bits");
    const low = this.uint32();
    const high = this.uint32() >>> (64 - k);
    return high * 0x1_0000_0000 + low;
  }

  /** An integer in [0, n), by rejection as `random._randbelow`. */
  randbelow(n: number): number {
    if (n <= 0) throw new Error("randbelow needs n > 0");
    const k = bitLength(n);
    let r = this.getrandbits(k);
    while (r >= n) r = this.getrandbits(k);
    return r;
  }

  /** `random.sample(range(n), k)`: k distinct indexes from [0, n), in draw order. */
  sample(n: number, k: number, out: Int32Array | number[] = new Array<number>(k)): Int32Array | number[] {
    if (k < 0 || k > n) throw new Error("sample larger than population or negative");
    let setsize = 21;
    if (k > 5) setsize += 4 ** Math.ceil(Math.log(k * 3) / Math.log(4));
    if (n <= setsize) {
      // Partial Fisher–Yates over a copy of the population.
      const pool = new Int32Array(n);
      for (let i = 0; i < n; i++) pool[i] = i;
      for (let i = 0; i < k; i++) {
        const j = this.randbelow(n - i);
        out[i] = pool[j];
        pool[j] = pool[n - i - 1];
      }
    } else {
      const selected = new Set<number>();
      for (let i = 0; i < k; i++) {
        let j = this.randbelow(n);
        while (selected.has(j)) j = this.randbelow(n);
        selected.add(j);
        out[i] = j;
      }
    }
    return out;
  }

  /**
   * `random.choices(population, weights, k=k)`: k draws with replacement, with
   * optional relative weights (CPython's cumulative-weights bisection).
   */
  choices<T>(population: readonly T[], k: number, weights?: readonly number[]): T[] {
    const n = population.length;
    if (!weights) return Array.from({ length: k }, () => population[Math.floor(this.random() * n)]);
    if (weights.length !== n) throw new Error("the number of weights does not match the population");
    const cumulative: number[] = [];
    let total = 0;
    for (const w of weights) cumulative.push((total += w));
    return Array.from({ length: k }, () => {
      // bisect_right(cumulative, random() * total, 0, n - 1)
      const x = this.random() * total;
      let lo = 0;
      let hi = n - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (x < cumulative[mid]) hi = mid;
        else lo = mid + 1;
      }
      return population[lo];
    });
  }

  /** `random.shuffle(x)` in place. */
  shuffle<T>(x: { length: number; [i: number]: T }): void {
    for (let i = x.length - 1; i > 0; i--) {
      const j = this.randbelow(i + 1);
      const t = x[i];
      x[i] = x[j];
      x[j] = t;
    }
  }
}

function bitLength(n: number): number {
  let bits = 0;
  while (n >= 1) {
    n = Math.floor(n / 2);
    bits++;
  }
  return bits;
}
