// A client that speaks the JavaScript ddbes library's EventStream protocol (its section 5.3):
// on open it sends the filter sets as a bare JSON array, then treats every message as one event
// object. Usage: node legacy-client.js URL FILTERS_JSON COUNT [RAW_FIRST_FRAME]
// Prints "open" once the filters are sent, then one JSON line with the frames and the close.
'use strict'
const WebSocket = require('ws')

const [url, filters, countText, rawFirst] = process.argv.slice(2)
const count = Number(countText)
const frames = []
let done = false

function finish(close) {
  if (done) return
  done = true
  console.log(JSON.stringify({frames, close}))
  process.exit(0)
}

const socket = new WebSocket(url)
socket.on('open', () => {
  socket.send(rawFirst === undefined ? JSON.stringify(JSON.parse(filters)) : rawFirst)
  console.log('open')
})
socket.on('message', (data, isBinary) => {
  frames.push({binary: isBinary, text: data.toString()})
  if (frames.length === count) socket.close(1000)
})
socket.on('close', (code, reason) => finish({code, reason: reason.toString()}))
socket.on('error', (error) => finish({error: String(error)}))
setTimeout(() => finish({timeout: true}), 20000)
