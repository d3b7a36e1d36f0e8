export declare const WORKER_SEMI_SPACE_MB: number;
export declare function workerLaunchFlags(execArgv: readonly string[], nodeOptions: string | undefined): string[] | undefined;
