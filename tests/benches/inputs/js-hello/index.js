// The smallest JavaScript konnector, for job start benchmarks. Node.js runs
// this same file: `node index.js`.
console.log("hello");
