// A subscriber that loads ringcast with require (require of an ES module: Node 20.19+).
'use strict';
const { Subscriber } = require('ringcast');
const { consume } = require('./consume.cjs');

consume(Subscriber, process.argv[2]).then((result) => console.log(JSON.stringify({ loader: 'require', ...result })));
