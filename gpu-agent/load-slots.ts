/** At most `size` backend loads at once (`--concurrent-loads`); the others wait, first come first served. */
export class LoadSlots {
  /** Loads holding a slot. */
  running = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(private readonly size: number) {}

  take(): Promise<void> | void {
    if (this.running < this.size) {
      this.running++;
      return;
    }
    // The slot passes straight from the load that ends to the next waiter (running unchanged).
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.running--;
  }
}
