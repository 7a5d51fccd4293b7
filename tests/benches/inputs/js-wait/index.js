// A konnector that sets a 10-second timer, then logs "waiting", so that a
// memory benchmark can hold many such jobs at once. Node.js runs this same
// file: `node index.js`.
setTimeout(() => console.log("done"), 10000);
console.log("waiting");
