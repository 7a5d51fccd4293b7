// retry(fn, options): calls `fn` until it returns or resolves, as the
// bluebird-retry package that cozy-konnector-libs exports does.
//
// Options: `max_tries` (default 5; -1 for no limit), `interval` in
// milliseconds before the second try (default 1000), `backoff` (each wait
// is the previous one times this, default 1), `max_interval` (the longest
// wait), `timeout` in milliseconds for all tries, `predicate` (a function
// of the error, or an Error class, that tells which errors to retry),
// `throw_original` (reject with the last error itself rather than a
// StopError that carries it), `context` and `args` (what `fn` is called
// with). Waits use timers, which the job's deadline bounds.
"use strict";

const DEFAULTS = { max_tries: 5, interval: 1000, backoff: 1, max_interval: Infinity, timeout: Infinity };

// The error retry rejects with when it gives up, unless `throw_original`.
class StopError extends Error {
  constructor(message, failure) {
    super(message);
    this.name = "StopError";
    this.failure = failure;
  }
}

function shouldRetry(predicate, error) {
  if (predicate === undefined || predicate === null) {
    return !(error instanceof StopError);
  }
  if (typeof predicate === "function" && predicate.prototype instanceof Error) {
    return error instanceof predicate;
  }
  if (typeof predicate === "function") {
    return Boolean(predicate(error));
  }
  throw new TypeError("retry: predicate must be a function or an Error class");
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function retry(fn, options = {}) {
  if (typeof fn !== "function") {
    throw new TypeError("retry: the first argument must be a function");
  }
  const settings = { ...DEFAULTS, ...options };
  const started = Date.now();
  let wait = settings.interval;
  let tries = 0;
  for (;;) {
    tries += 1;
    try {
      return await fn.apply(settings.context, settings.args ?? []);
    } catch (error) {
      const stop = (reason) => {
        if (settings.throw_original || error instanceof StopError) {
          throw error;
        }
        throw new StopError(`${reason}: ${error?.message ?? String(error)}`, error);
      };
      if (!shouldRetry(settings.predicate, error)) {
        stop("retry: the error is not one to retry");
      }
      if (settings.max_tries !== -1 && tries >= settings.max_tries) {
        stop(`retry: gave up after ${tries} tries`);
      }
      if (Date.now() - started + wait > settings.timeout) {
        stop(`retry: the timeout of ${settings.timeout} ms would pass before the next try`);
      }
      await sleep(wait);
      wait = Math.min(wait * settings.backoff, settings.max_interval);
    }
  }
}

retry.StopError = StopError;

module.exports = retry;
