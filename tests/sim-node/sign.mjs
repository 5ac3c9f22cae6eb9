// Prints a Stripe-Signature header for a payload file, made by Stripe's own library
// (stripe.webhooks.generateTestHeaderString), so tests check Junction accepts what Stripe signs.
// Usage: node sign.mjs <secret> <payloadfile>
// Exits 0 and prints the header, or 2 on bad usage.
import { readFileSync } from 'node:fs';
import Stripe from 'stripe';

const [secret, file] = process.argv.slice(2);
if (!secret || !file) {
  console.error('usage: node sign.mjs <secret> <payloadfile>');
  process.exit(2);
}
// Signed as text, exactly as the file holds it (Stripe signs the raw body it sends).
const payload = readFileSync(file, 'utf8');
const stripe = new Stripe('sk_test_unused');
console.log(stripe.webhooks.generateTestHeaderString({ payload, secret }));
