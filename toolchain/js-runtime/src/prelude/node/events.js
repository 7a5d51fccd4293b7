// The Node.js module "events" (also "node:events"): EventEmitter, whose
// module object is the class itself as in Node.js, and the helper `once`.
(function (native, internal) {
  "use strict";

  // Listeners per event name before a warning, as Node.js's default.
  const DEFAULT_MAX_LISTENERS = 10;

  function checkListener(listener, context) {
    if (typeof listener !== "function") {
      const kind = listener === null ? "null" : typeof listener;
      const error = new TypeError(
        `EventEmitter.${context}: the listener must be a function, not ${kind}`,
      );
      error.code = "ERR_INVALID_ARG_TYPE";
      throw error;
    }
  }

  // The listeners of an emitter, created on first use so that subclasses
  // that do not call the constructor still work.
  function listenerMap(emitter) {
    if (!Object.hasOwn(emitter, "_events") || emitter._events === undefined) {
      Object.defineProperty(emitter, "_events", {
        value: new Map(),
        writable: true,
        configurable: true,
        enumerable: false,
      });
    }
    return emitter._events;
  }

  // A function rather than a class, so that the ES5 pattern
  // `EventEmitter.call(this)` in a constructor that util.inherits from it
  // still works.
  function EventEmitter() {
    listenerMap(this);
  }

  // Adds a listener, and returns the emitter. Each entry keeps the
  // original listener, and whether it runs once.
  function addListener(emitter, name, listener, once, prepend, context) {
    checkListener(listener, context);
    const map = listenerMap(emitter);
    if (map.has("newListener")) {
      emitter.emit("newListener", name, listener);
    }
    const entries = map.get(name) ?? [];
    const entry = { listener, once };
    map.set(name, prepend ? [entry, ...entries] : [...entries, entry]);

    const max = emitter.getMaxListeners();
    if (max > 0 && entries.length === max) {
      console.warn(
        `MaxListenersExceededWarning: ${max + 1} ${String(name)} listeners added to an ` +
          "EventEmitter; use emitter.setMaxListeners() to increase the limit",
      );
    }
    return emitter;
  }

  const methods = {
    on(name, listener) {
      return addListener(this, name, listener, false, false, "on");
    },

    addListener(name, listener) {
      return addListener(this, name, listener, false, false, "addListener");
    },

    prependListener(name, listener) {
      return addListener(this, name, listener, false, true, "prependListener");
    },

    once(name, listener) {
      return addListener(this, name, listener, true, false, "once");
    },

    prependOnceListener(name, listener) {
      return addListener(this, name, listener, true, true, "prependOnceListener");
    },

    off(name, listener) {
      return this.removeListener(name, listener);
    },

    removeListener(name, listener) {
      checkListener(listener, "removeListener");
      const map = listenerMap(this);
      const entries = map.get(name);
      if (entries === undefined) {
        return this;
      }
      // The last one added goes first, as in Node.js.
      const index = entries.findLastIndex((entry) => entry.listener === listener);
      if (index === -1) {
        return this;
      }
      const rest = entries.filter((_, i) => i !== index);
      if (rest.length === 0) {
        map.delete(name);
      } else {
        map.set(name, rest);
      }
      if (map.has("removeListener")) {
        this.emit("removeListener", name, listener);
      }
      return this;
    },

    removeAllListeners(name = undefined) {
      const map = listenerMap(this);
      if (name === undefined) {
        map.clear();
      } else {
        map.delete(name);
      }
      return this;
    },

    // Calls the listeners of `name` in order, and returns whether there
    // were any. An "error" event with no listener throws its argument.
    emit(name, ...args) {
      const entries = listenerMap(this).get(name);
      if (entries === undefined || entries.length === 0) {
        if (name === "error") {
          const error = args[0];
          if (error instanceof Error) {
            throw error;
          }
          const wrapped = new Error(`unhandled "error" event (${String(error)})`);
          wrapped.code = "ERR_UNHANDLED_ERROR";
          wrapped.context = error;
          throw wrapped;
        }
        return false;
      }
      for (const entry of entries) {
        if (entry.once) {
          this.removeListener(name, entry.listener);
        }
        Reflect.apply(entry.listener, this, args);
      }
      return true;
    },

    listeners(name) {
      return (listenerMap(this).get(name) ?? []).map((entry) => entry.listener);
    },

    rawListeners(name) {
      return this.listeners(name);
    },

    listenerCount(name) {
      return (listenerMap(this).get(name) ?? []).length;
    },

    eventNames() {
      return [...listenerMap(this).keys()];
    },

    setMaxListeners(count) {
      if (typeof count !== "number" || count < 0 || Number.isNaN(count)) {
        throw new RangeError(
          `EventEmitter.setMaxListeners: the count must be a number >= 0, not ${count}`,
        );
      }
      Object.defineProperty(this, "_maxListeners", {
        value: count,
        writable: true,
        configurable: true,
        enumerable: false,
      });
      return this;
    },

    getMaxListeners() {
      return this._maxListeners ?? EventEmitter.defaultMaxListeners;
    },
  };
  for (const [name, method] of Object.entries(methods)) {
    Object.defineProperty(EventEmitter.prototype, name, {
      value: method,
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }

  EventEmitter.defaultMaxListeners = DEFAULT_MAX_LISTENERS;
  EventEmitter.EventEmitter = EventEmitter;
  EventEmitter.errorMonitor = Symbol("events.errorMonitor");

  // Resolves with the arguments of the next `name` event, or rejects with
  // the next "error" event.
  EventEmitter.once = function once(emitter, name) {
    return new Promise((resolve, reject) => {
      const onError = (error) => {
        emitter.removeListener(name, onEvent);
        reject(error);
      };
      const onEvent = (...args) => {
        if (name !== "error") {
          emitter.removeListener("error", onError);
        }
        resolve(args);
      };
      emitter.once(name, onEvent);
      if (name !== "error") {
        emitter.once("error", onError);
      }
    });
  };

  EventEmitter.listenerCount = (emitter, name) => emitter.listenerCount(name);

  internal.defineModule("events", EventEmitter);
});
