// A konnector that loads what the libs-bills sample loads at its start,
// cozy-konnector-libs and cheerio, logs one line and returns, for job start
// benchmarks. Node.js runs this same file once bundled by
// tests/benches/node/build.mjs.
//
// With the job parameter `wait_ms` (`--parameters '{"wait_ms": 10000}'`
// for `konnector run`, KONNECTOR_PARAMETERS for Node.js), it logs
// "waiting" and then waits that many milliseconds on a timer, so that a
// memory benchmark can hold many such jobs at once.
const { log } = require('cozy-konnector-libs')
const cheerio = require('cheerio')
const { input } = require('konnector:host')

const waitMs = Number(input.parameters?.wait_ms ?? 0)
if (waitMs > 0) {
  setTimeout(() => log('info', 'done'), waitMs)
  log('info', 'waiting')
} else {
  log('info', `libs loaded, cheerio.load is a ${typeof cheerio.load}`)
}
