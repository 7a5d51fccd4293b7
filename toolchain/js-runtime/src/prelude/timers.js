// setTimeout, setInterval, clearTimeout and clearInterval, and a minimal
// process global. The timers wait here until the job loop (job.rs and
// timers.rs) runs them. Once the promise jobs are done, the loop gets the
// earliest due time, waits for it, then runs that timer.
//
// As in Node.js, the set* functions return a Timeout object with ref(),
// unref(), hasRef(), refresh() and close(), which converts to its number
// id, so clear* accepts either. The job ends when no timer but unref'ed
// ones is left, and a pending interval keeps it running until it is
// cleared or the engine's deadline ends the job.
(function (native, internal) {
  "use strict";

  // Maximum delay in milliseconds. As in Node.js, a longer delay, a shorter
  // one than 1 or one that is not a number becomes 1.
  const MAX_DELAY_MS = 2 ** 31 - 1;

  // Pending timers by id: {id, callback, args, delayMs, repeat, due,
  // sequence, ref, cleared}. `due` is in the milliseconds of native.now(), a
  // monotonic clock, and `sequence` orders timers due at the same time by
  // the time they were scheduled.
  const timers = new Map();
  let lastId = 0;
  let lastSequence = 0;

  // Adds or removes a timer, and passes the number of pending timers to the
  // job loop, so that a job without timers never calls into this file at
  // its end.
  function setTimer(timer) {
    timers.set(timer.id, timer);
    native.setTimerCount(timers.size);
  }

  function deleteTimer(timer) {
    timers.delete(timer.id);
    native.setTimerCount(timers.size);
  }

  function normalizeDelay(delay) {
    const delayMs = Number(delay);
    if (!(delayMs >= 1 && delayMs <= MAX_DELAY_MS)) {
      return 1;
    }
    return delayMs;
  }

  class Timeout {
    #timer;

    constructor(timer) {
      this.#timer = timer;
    }

    ref() {
      this.#timer.ref = true;
      return this;
    }

    unref() {
      this.#timer.ref = false;
      return this;
    }

    hasRef() {
      return this.#timer.ref;
    }

    // Restarts the timer's delay from now, and schedules a timeout that
    // already ran again, as in Node.js. A cleared timer stays cleared.
    refresh() {
      const timer = this.#timer;
      if (!timer.cleared) {
        timer.due = native.now() + timer.delayMs;
        timer.sequence = ++lastSequence;
        setTimer(timer);
      }
      return this;
    }

    close() {
      clear(this.#timer.id);
      return this;
    }

    [Symbol.toPrimitive]() {
      return this.#timer.id;
    }
  }

  function schedule(callback, delay, args, repeat) {
    if (typeof callback !== "function") {
      throw new TypeError(
        `the timer's callback must be a function, not ${typeof callback}`,
      );
    }
    const delayMs = normalizeDelay(delay);
    const timer = {
      id: ++lastId,
      callback,
      args,
      delayMs,
      repeat,
      due: native.now() + delayMs,
      sequence: ++lastSequence,
      ref: true,
      cleared: false,
    };
    setTimer(timer);
    return new Timeout(timer);
  }

  function clear(handle) {
    if (handle === undefined || handle === null) {
      return;
    }
    const timer = timers.get(Number(handle));
    if (timer !== undefined) {
      timer.cleared = true;
      deleteTimer(timer);
    }
  }

  // Returns the earliest timer, or undefined when there is none. Map's
  // forEach costs less fuel than a for-of loop in QuickJS.
  function earliest() {
    let first;
    timers.forEach((timer) => {
      if (
        first === undefined ||
        timer.due < first.due ||
        (timer.due === first.due && timer.sequence < first.sequence)
      ) {
        first = timer;
      }
    });
    return first;
  }

  // For the job loop: the due time of the earliest timer, or -1 when no
  // timer keeps the job alive.
  internal.nextTimerDue = function nextTimerDue() {
    let alive = false;
    timers.forEach((timer) => {
      alive ||= timer.ref;
    });
    return alive ? earliest().due : -1;
  };

  // For the job loop: runs the earliest timer's callback, which the loop
  // waited for. An interval is scheduled again first, from now, so that
  // its callback may clear it.
  internal.runNextTimer = function runNextTimer() {
    const timer = earliest();
    if (timer === undefined) {
      return;
    }
    if (timer.repeat) {
      timer.due = native.now() + timer.delayMs;
      timer.sequence = ++lastSequence;
    } else {
      deleteTimer(timer);
    }
    Reflect.apply(timer.callback, globalThis, timer.args);
  };

  const { defineGlobal } = internal;
  defineGlobal("setTimeout", function setTimeout(callback, delay, ...args) {
    return schedule(callback, delay, args, false);
  });
  defineGlobal("setInterval", function setInterval(callback, delay, ...args) {
    return schedule(callback, delay, args, true);
  });
  defineGlobal("clearTimeout", function clearTimeout(handle) {
    clear(handle);
  });
  defineGlobal("clearInterval", function clearInterval(handle) {
    clear(handle);
  });

  // A minimal `process` for code written for Node.js: no environment
  // variable, no argument, and nextTick as a microtask. It has no
  // `versions`, so libraries that look for process.versions.node do not
  // take this runtime for Node.js.
  defineGlobal("process", {
    env: {},
    argv: [],
    platform: "wasi",
    nextTick(callback, ...args) {
      if (typeof callback !== "function") {
        throw new TypeError(
          `process.nextTick: the callback must be a function, not ${typeof callback}`,
        );
      }
      queueMicrotask(() => callback(...args));
    },
  });
});
