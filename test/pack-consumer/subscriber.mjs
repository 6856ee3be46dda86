// A subscriber that loads ringcast with import.
import { Subscriber } from 'ringcast';
import consumeModule from './consume.cjs';

const result = await consumeModule.consume(Subscriber, process.argv[2]);
console.log(JSON.stringify({ loader: 'import', ...result }));
