/**
 * A pickle *interpreter* that builds plain data and never runs anything: globals become inert
 * names (PickleGlobal), calls (REDUCE/NEWOBJ) become records of what would have been called
 * (PickleCall) unless the caller's `reduce` hook recognises the callable and returns a value
 * (e.g. torch's tensor-rebuild functions -> a tensor reference), and persistent ids go to the
 * `persistentLoad` hook. Only the data opcodes torch.save emits (protocol 2, some 3-5) are
 * accepted; anything else is an error. Pure: bytes in, values out.
 */

export class PickleGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A call the pickle asked for and nobody performed. */
export class PickleCall {
  state: unknown;
  constructor(
    readonly callable: unknown,
    readonly args: readonly unknown[],
  ) {}
}

export class PickleTuple {
  constructor(readonly items: readonly unknown[]) {}
}

export interface UnpickleHooks {
  /** BINPERSID: torch uses it for tensor storages. */
  persistentLoad(pid: unknown): unknown;
  /** A recognised callable's result, or undefined to record the call inertly. */
  reduce?(callable: unknown, args: readonly unknown[]): unknown;
}

export class UnpickleError extends Error {}

const MARK = Symbol("mark");

export function unpickle(data: Uint8Array, hooks: UnpickleHooks): unknown {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  let pos = 0;

  const need = (n: number) => {
    if (pos + n > data.length) throw new UnpickleError(`pickle ends inside an opcode at byte ${pos}`);
  };
  const u8 = () => {
    need(1);
    return data[pos++];
  };
  const u16 = () => {
    need(2);
    pos += 2;
    return view.getUint16(pos - 2, true);
  };
  const u32 = () => {
    need(4);
    pos += 4;
    return view.getUint32(pos - 4, true);
  };
  const bytes = (n: number) => {
    need(n);
    pos += n;
    return data.slice(pos - n, pos);
  };
  const text = (n: number) => {
    const raw = bytes(n);
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(raw);
    } catch {
      // Python's pickle fails the same way (UnicodeDecodeError): a damaged file
      throw new UnpickleError(`a ${n}-byte string that is not valid UTF-8`);
    }
  };
  const line = () => {
    const end = data.indexOf(0x0a, pos);
    if (end < 0) throw new UnpickleError("unterminated text line");
    const s = new TextDecoder().decode(data.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = () => {
    if (stack.length === 0) throw new UnpickleError(`stack underflow at byte ${pos}`);
    return stack.pop();
  };
  const top = () => {
    if (stack.length === 0) throw new UnpickleError(`stack underflow at byte ${pos}`);
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) throw new UnpickleError(`no MARK on the stack at byte ${pos}`);
    const items = stack.splice(i + 1);
    stack.pop();
    return items;
  };
  const asMap = (v: unknown): Map<unknown, unknown> => {
    if (!(v instanceof Map)) throw new UnpickleError(`SETITEM on a non-dict at byte ${pos}`);
    return v;
  };
  const asList = (v: unknown): unknown[] => {
    if (!Array.isArray(v)) throw new UnpickleError(`APPEND on a non-list at byte ${pos}`);
    return v;
  };
  const call = (callable: unknown, args: unknown[]) =>
    hooks.reduce?.(callable, args) ?? new PickleCall(callable, args);
  const tupleItems = (v: unknown): unknown[] => {
    if (!(v instanceof PickleTuple)) throw new UnpickleError(`expected an argument tuple at byte ${pos}`);
    return [...v.items];
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) throw new UnpickleError("pickle protocol above 5");
        break;
      case 0x95: // FRAME
        pos += 8;
        break;
      case 0x2e: // STOP
        return pop();
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PickleTuple([]));
        break;
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x74: // TUPLE
        stack.push(new PickleTuple(popMark()));
        break;
      case 0x85: // TUPLE1
        stack.push(new PickleTuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push(new PickleTuple([pop(), b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push(new PickleTuple([pop(), b, c]));
        break;
      }
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x64: {
        // DICT
        const items = popMark();
        const m = new Map();
        for (let i = 0; i + 1 < items.length; i += 2) m.set(items[i], items[i + 1]);
        stack.push(m);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        asList(top()).push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        asList(top()).push(...items);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        asMap(top()).set(k, v);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        const m = asMap(top());
        for (let i = 0; i + 1 < items.length; i += 2) m.set(items[i], items[i + 1]);
        break;
      }
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) throw new UnpickleError("ADDITEMS on a non-set");
        for (const i of items) s.add(i);
        break;
      }
      case 0x91: // FROZENSET
        stack.push(new Set(popMark()));
        break;
      case 0x4a: // BININT
        need(4);
        pos += 4;
        stack.push(view.getInt32(pos - 4, true));
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: {
        // LONG1: little-endian two's complement
        const b = bytes(u8());
        let v = 0n;
        for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
        if (b.length > 0 && b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
        stack.push(
          v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v,
        );
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        pos += 8;
        stack.push(view.getFloat64(pos - 8, false));
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x58: // BINUNICODE
        stack.push(text(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(u8()));
        break;
      case 0x8d: {
        // BINUNICODE8
        const lo = u32();
        const hi = u32();
        stack.push(text(hi * 2 ** 32 + lo));
        break;
      }
      case 0x54: // BINSTRING (python 2 str)
        stack.push(new TextDecoder("latin1").decode(bytes(u32())));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(new TextDecoder("latin1").decode(bytes(u8())));
        break;
      case 0x42: // BINBYTES
        stack.push(bytes(u32()));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(bytes(u8()));
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const key = op === 0x68 ? u8() : u32();
        if (!memo.has(key)) throw new UnpickleError(`memo key ${key} not set`);
        stack.push(memo.get(key));
        break;
      }
      case 0x63: {
        // GLOBAL "module\nname\n": a name, never an import
        const module = line();
        stack.push(new PickleGlobal(module, line()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string")
          throw new UnpickleError("STACK_GLOBAL needs strings");
        stack.push(new PickleGlobal(module, name));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = tupleItems(pop());
        stack.push(call(pop(), args));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = tupleItems(pop());
        stack.push(new PickleCall(pop(), args));
        break;
      }
      case 0x62: {
        // BUILD: attach the state to a recorded call; dict states of known values are dropped
        const state = pop();
        const target = top();
        if (target instanceof PickleCall) target.state = state;
        break;
      }
      case 0x51: // BINPERSID
        stack.push(hooks.persistentLoad(pop()));
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      default:
        throw new UnpickleError(`pickle opcode 0x${op.toString(16)} at byte ${pos - 1} is not accepted`);
    }
  }
}
