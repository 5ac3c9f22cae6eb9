// A deliberately hostile connector in TypeScript: the last segment of a webhook's path picks
// how it misbehaves, so Junction's sandbox tests prove a JavaScript guest is contained like a
// Rust one (tests/it/polyglot.rs).
//
// | path      | misbehaviour                                   |
// |-----------|------------------------------------------------|
// | `/ok`     | none: answers an empty list                    |
// | `/loop`   | spins forever                                  |
// | `/memory` | allocates until something gives               |
// | `/fetch`  | fetches the URL in the body                    |
// | `/signed` | none, if `x-signature` is the hex HMAC-SHA256 of the body under the `webhook` secret (the kit's host hmac); else invalid-webhook |

import { constantTimeEqual, defineConnector, errors, hex, hmacSha256 } from "@junction/connector-kit";

const hoard: Uint8Array[] = [];

export const { describe, source, sink } = defineConnector({
  info: { name: "hostile-ts", version: "0.0.0", description: "misbehaves on purpose, for sandbox tests" },
  source: {
    objects: ["customer"],
    async receive(hook) {
      const what = hook.path.split("/").pop();
      switch (what) {
        case "ok":
          return [];
        case "loop": {
          let n = 0;
          for (;;) n = (n + 1) % 1_000_003;
        }
        case "memory":
          for (;;) hoard.push(new Uint8Array(1 << 20).fill(1));
        case "fetch": {
          const url = new TextDecoder().decode(hook.body);
          const r = await fetch(url);
          return r.ok ? [] : [];
        }
        case "signed": {
          const given = hook.headers.find(([n]) => n === "x-signature")?.[1] ?? "";
          if (!constantTimeEqual(hex(hmacSha256("webhook", hook.body)), given)) {
            throw errors.invalidWebhook("the signature does not match");
          }
          return [];
        }
        default:
          throw errors.rejected(`unknown misbehaviour ${what}`);
      }
    },
  },
});
