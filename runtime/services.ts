/**
 * The shared services a runtime gives its nodes (`ctx.service(name)`), built once
 * per process. Each area adds its own entry here.
 */
export interface ServiceOptions {
  dataDir: string;
}

export async function createServices(_options: ServiceOptions): Promise<Record<string, unknown>> {
  return {};
}
