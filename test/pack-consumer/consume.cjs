// Reads a bus to its end and checks every message: the body both subscriber
// programs share, one loaded with import and one with require.
'use strict';

async function consume(Subscriber, path) {
  const subscriber = await Subscriber.connect({ path });
  let received = 0;
  let intact = true;
  for await (const message of subscriber) {
    if (message.length !== 64 || message.readUInt32LE(0) !== received || message[63] !== (received & 0xff)) intact = false;
    received++;
  }
  await subscriber.close();
  return { received, intact };
}

module.exports = { consume };
