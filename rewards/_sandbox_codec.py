"""Data across the code sandbox's boundary, both ways: `Codec` encodes and decodes one message's values as JSON.

Used on both sides: the verifier imports it (rewards/code_exec.py, rewards/tools.py); the sandbox's launcher
(`_sandbox_child.py`, a script run in isolated mode) loads this file by its path before any model code exists. It
imports only the standard library (numpy only if the other side sent an array and it is installed).

Plain data crosses as JSON: builtin types rebuilt from their contents (a subclass's own __eq__, __hash__ or
__iter__ never comes along, so no rigged comparison crosses), the standard library's value types with their
behaviour (Fraction, Decimal, Counter, OrderedDict, defaultdict with a builtin factory, namedtuple and Enum/IntEnum/
StrEnum members: rebuilt on the receiving side from their names and contents by the standard library itself),
numpy scalars and numeric arrays, and instances of the setup's classes (a ListNode, a TreeNode: sent as their
attributes and rebuilt with the receiver's own copy of the class; a graph of them, cycles included, keeps its
shape). Anything else becomes a reference the `outside` hook makes: a handle to an object that stays where it lives.

The decoder is the verifier's defence against a reply the model's code wrote itself: every node is typed and
checked, numbers cross in linear-time forms (large integers in hex: no 4300-digit limit, no quadratic
conversion), and keys whose hashes collide are refused (a dict of colliding keys costs quadratic time to build).
"""

import builtins
import collections
import decimal
import enum
import fractions
import re
import sys

MAX_SAME_HASH = 32
_BIG_INT = 1 << 60
_MAX_FRACTION_BITS = 1 << 20
_MAX_DECIMAL_EXPONENT = 100_000
_MAX_FIELDS = 256
_FACTORIES = ("int", "float", "str", "bool", "list", "dict", "set", "tuple", "frozenset", "bytes")
_ENUM_KINDS = ("Enum", "IntEnum", "StrEnum")


class Codec:
    """Encode and decode one message's data. `classes`: the setup's classes by name (exact types); `outside(obj)`
    turns an object that is not data into a reference node ({"handle": h} or {"local": i}), or raises TypeError;
    `inside(node)` turns such a node back into an object."""

    def __init__(self, classes=None, outside=None, inside=None):
        self.classes = dict(classes or {})
        self._names = {id(cls): name for name, cls in self.classes.items()}
        self.outside, self.inside = outside, inside
        self._made_types = {}  # namedtuple and Enum classes rebuilt here, one per definition: identity holds
        self.last_objects = []  # the setup-class instances the last encode sent, in the order the message lists them
        self.last_shells = []  # the instances the last decode made or updated, in the same order
        self._shells = None

    # -- encoding: (data, objects) where objects lists the instances of setup classes the data refers to
    def encode(self, values, origins=None):
        """Encode a list of values into one message body: {"data": [...], "objects": [...]}. `origins` maps id() of
        instances that arrived in a request to their index there, so the sender can update its originals."""
        self._seen, self._objects, self._origins, self.last_objects = {}, [], origins or {}, []
        self._unfilled = []
        data = [self._encode(value) for value in values]
        while self._unfilled:  # breadth first: a 100,000-node linked list is a queue here, not a recursion
            entry, state = self._unfilled.pop()
            entry[1] = [[name, self._encode(item)] for name, item in dict.items(state) if type(name) is str]
        objects, self._seen, self._objects = self._objects, None, None
        return {"data": data, "objects": objects}

    def _encode(self, value):
        kind = type(value)
        if value is None or kind is bool or kind is str:
            return value
        if kind is int:
            return value if -_BIG_INT < value < _BIG_INT else {"int": hex(value)}
        if kind is float:
            return {"float": repr(value)}
        if kind is list:
            return [self._encode(item) for item in value]
        if kind is tuple:
            return {"tuple": [self._encode(item) for item in value]}
        if kind is dict:
            return {"dict": self._pairs(value)}
        if id(kind) in self._names:
            return self._instance(value, kind)
        if isinstance(value, enum.Enum):
            return self._enum_member(value, kind)
        if kind is collections.Counter:
            return {"counter": self._pairs(value)}
        if kind is collections.OrderedDict:
            return {"odict": self._pairs(value)}
        if kind is collections.defaultdict:
            return {"ddict": [self._factory(value.default_factory), self._pairs(value)]}
        if (
            isinstance(value, tuple)
            and kind.__bases__ == (tuple,)
            and isinstance(getattr(kind, "_fields", None), tuple)
        ):
            fields = [field for field in kind._fields if type(field) is str]
            return {"ntuple": [str(kind.__name__), fields, [self._encode(item) for item in tuple.__iter__(value)]]}
        if kind is fractions.Fraction:
            return {"fraction": [self._encode(value.numerator), self._encode(value.denominator)]}
        if kind is decimal.Decimal:
            return {"decimal": str(value)}
        if kind is complex:
            return {"complex": [repr(value.real), repr(value.imag)]}
        if kind is bytes:
            return {"bytes": value.hex()}
        if kind is bytearray:
            return {"bytearray": bytes(value).hex()}
        if kind is set or kind is frozenset:
            return {kind.__name__: [self._encode(item) for item in value]}
        if kind is slice or kind is range:
            return {kind.__name__: [self._encode(value.start), self._encode(value.stop), self._encode(value.step)]}
        # subclasses of builtin types cross as the builtin value they hold (their own methods stay behind)
        if isinstance(value, int):
            return self._encode(int.__int__(value))
        if isinstance(value, str):
            return str.__str__(value)
        if isinstance(value, float):
            return {"float": repr(float.__float__(value))}
        if isinstance(value, list):
            return [self._encode(item) for item in list.__iter__(value)]
        if isinstance(value, tuple):
            return {"tuple": [self._encode(item) for item in tuple.__iter__(value)]}
        if isinstance(value, dict):
            return {"dict": self._pairs(value)}
        if isinstance(value, (set, frozenset)):
            base = frozenset if isinstance(value, frozenset) else set
            return {base.__name__: [self._encode(item) for item in base.__iter__(value)]}
        numpy = sys.modules.get("numpy")
        if numpy is not None and kind.__module__ == "numpy":
            if isinstance(value, numpy.generic):
                return self._encode(value.item())
            if kind is numpy.ndarray and value.dtype.kind in "biufc" and value.size <= 1 << 22:
                flat = [self._encode(item) for item in value.ravel().tolist()]
                return {"ndarray": [value.dtype.str, list(value.shape), flat]}
        return self._fallback(value)

    def _pairs(self, mapping):
        return [[self._encode(k), self._encode(v)] for k, v in dict.items(mapping)]

    def _factory(self, factory):
        if factory is None:
            return None
        name = getattr(factory, "__name__", None)
        if name in _FACTORIES and getattr(builtins, name) is factory:
            return ["type", name]
        try:  # a factory of its own (lambda: 0): what it makes, when that is an immutable value
            made = factory()
        except BaseException:
            return None
        if made is None or type(made) in (bool, int, float, str):
            return ["value", self._encode(made)]
        if type(made) in (list, dict, set) and not made:
            return ["type", type(made).__name__]
        return None

    def _enum_member(self, value, kind):
        base = next((name for name in _ENUM_KINDS if kind.__bases__ == (getattr(enum, name, None),)), None)
        if base is None:  # a Flag, or a mixin enum: the builtin value it holds, if any, as before enums kept names
            if isinstance(value, int):
                return self._encode(int.__int__(value))
            if isinstance(value, str):
                return str.__str__(value)
            return self._fallback(value)
        members = [[str(name), self._encode(member._value_)] for name, member in kind.__members__.items()]
        return {"enum": [base, str(kind.__name__), members, str(value._name_)]}

    def _fallback(self, value):
        if self.outside is None:
            raise TypeError(f"not plain data: {type(value).__name__}")
        return self.outside(value)

    def _instance(self, value, kind):
        index = self._seen.get(id(value))
        if index is None:
            state = getattr(value, "__dict__", None)
            if type(state) is not dict:
                return self._fallback(value)
            index = self._seen[id(value)] = len(self._objects)
            entry = [self._names[id(kind)], None, self._origins.get(id(value))]
            self._objects.append(entry)
            self.last_objects.append(value)
            self._unfilled.append((entry, dict(state)))
        return {"obj": index}

    # -- decoding
    def decode(self, body, origins=None):
        """The values of a message body; `origins`: the objects whose indices the body's instances may name (the
        sender's copies of what we sent): they are updated in place instead of made anew."""
        if type(body) is not dict or type(body.get("data")) is not list or type(body.get("objects", [])) is not list:
            raise ValueError("malformed message")
        self._shells = []
        entries = body.get("objects", [])
        for entry in entries:
            if type(entry) is not list or len(entry) != 3 or type(entry[0]) is not str or type(entry[1]) is not list:
                raise ValueError("malformed object")
            origin = entry[2]
            if type(origin) is int and origins is not None and 0 <= origin < len(origins):
                shell = origins[origin]
                if self.classes.get(entry[0]) is not type(shell):
                    raise ValueError("malformed object")
            else:
                cls = self.classes.get(entry[0])
                if cls is None or cls.__new__ is not object.__new__:
                    raise ValueError("unknown class")
                shell = object.__new__(cls)
            self._shells.append(shell)
        states = []
        for entry in entries:
            state = {}
            for pair in entry[1]:
                if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not str or pair[0].startswith("__"):
                    raise ValueError("malformed attribute")
                state[pair[0]] = self._decode(pair[1])
            states.append(state)
        for shell, state in zip(self._shells, states):
            shell.__dict__.clear()
            shell.__dict__.update(state)
        values = [self._decode(item) for item in body["data"]]
        self.last_shells, self._shells = self._shells, None
        return values

    def _decode(self, data):
        kind = type(data)
        if data is None or kind is bool or kind is int or kind is str:
            return data
        if kind is list:
            return [self._decode(item) for item in data]
        if kind is not dict or len(data) != 1:
            raise ValueError("malformed plain data")
        ((tag, body),) = data.items()
        if tag == "float" and type(body) is str and len(body) < 400:
            return float(body)
        if tag == "int" and type(body) is str:
            return int(body, 16)
        if tag == "tuple" and type(body) is list:
            return tuple(self._decode(item) for item in body)
        if tag in ("dict", "counter", "odict"):
            pairs = self._decode_pairs(body)
            if tag == "counter":
                return collections.Counter(dict(pairs))
            return collections.OrderedDict(pairs) if tag == "odict" else dict(pairs)
        if tag == "ddict" and type(body) is list and len(body) == 2:
            return collections.defaultdict(self._decode_factory(body[0]), self._decode_pairs(body[1]))
        if tag in ("set", "frozenset") and type(body) is list:
            items = [self._decode(item) for item in body]
            _check_hashes(items)
            return set(items) if tag == "set" else frozenset(items)
        if tag == "obj" and type(body) is int and self._shells is not None and 0 <= body < len(self._shells):
            return self._shells[body]
        if tag == "ntuple" and type(body) is list and len(body) == 3:
            return self._namedtuple(*body)
        if tag == "enum" and type(body) is list and len(body) == 4:
            return self._enum_decode(*body)
        if tag == "fraction" and type(body) is list and len(body) == 2:
            numerator, denominator = (self._decode(item) for item in body)
            if type(numerator) is not int or type(denominator) is not int or denominator == 0:
                raise ValueError("malformed fraction")
            if max(numerator.bit_length(), denominator.bit_length()) > _MAX_FRACTION_BITS:
                raise ValueError("fraction too large")
            return fractions.Fraction(numerator, denominator)
        if tag == "decimal" and type(body) is str and len(body) < 10_000:
            value = decimal.Decimal(body)
            if value.is_finite() and abs(value.adjusted()) > _MAX_DECIMAL_EXPONENT:
                raise ValueError("decimal too large")  # int(Decimal("1e999999999")) would fill the verifier's memory
            return value
        if tag == "complex" and type(body) is list and len(body) == 2 and all(type(x) is str for x in body):
            return complex(float(body[0]), float(body[1]))
        if tag == "bytes" and type(body) is str:
            return bytes.fromhex(body)
        if tag == "bytearray" and type(body) is str:
            return bytearray.fromhex(body)
        if tag in ("slice", "range") and type(body) is list and len(body) == 3:
            parts = [self._decode(item) for item in body]
            if tag == "range" and not all(type(part) is int for part in parts):
                raise ValueError("malformed range")
            return slice(*parts) if tag == "slice" else range(*parts)
        if tag == "ndarray" and type(body) is list and len(body) == 3:
            return _ndarray(*body, self._decode)
        if tag in ("handle", "local") and self.inside is not None:
            return self.inside(data)
        raise ValueError(f"malformed plain data: {tag!r}")

    def _decode_pairs(self, body):
        if type(body) is not list or not all(type(pair) is list and len(pair) == 2 for pair in body):
            raise ValueError("malformed mapping")
        pairs = [(self._decode(key), self._decode(value)) for key, value in body]
        _check_hashes([key for key, _ in pairs])
        return pairs

    def _decode_factory(self, body):
        if body is None:
            return None
        if type(body) is list and len(body) == 2 and body[0] == "type" and body[1] in _FACTORIES:
            return getattr(builtins, body[1])
        if type(body) is list and len(body) == 2 and body[0] == "value":
            value = self._decode(body[1])
            if value is None or type(value) in (bool, int, float, str):
                return lambda: value
        raise ValueError("malformed defaultdict factory")

    def _namedtuple(self, name, fields, items):
        if (
            type(name) is not str
            or type(fields) is not list
            or len(fields) > _MAX_FIELDS
            or not all(type(field) is str and field.isidentifier() for field in fields)
            or type(items) is not list
            or len(items) != len(fields)
        ):
            raise ValueError("malformed namedtuple")
        key = ("ntuple", name, tuple(fields))
        if key not in self._made_types:
            self._made_types[key] = collections.namedtuple(name if name.isidentifier() else "namedtuple", fields)
        return self._made_types[key](*(self._decode(item) for item in items))

    def _enum_decode(self, base, name, members, member):
        if (
            base not in _ENUM_KINDS
            or getattr(enum, base, None) is None
            or type(name) is not str
            or type(members) is not list
            or not 0 < len(members) <= 1024
            or not all(type(m) is list and len(m) == 2 and type(m[0]) is str and m[0].isidentifier() for m in members)
            or type(member) is not str
        ):
            raise ValueError("malformed enum")
        values = [(key, self._decode(value)) for key, value in members]
        _check_hashes([value for _, value in values if type(value) in (int, str, float, bool, tuple)])
        key = ("enum", base, name, repr(values))
        if key not in self._made_types:
            self._made_types[key] = getattr(enum, base)(name if name.isidentifier() else "Enum", values)
        return self._made_types[key][member]


def _check_hashes(keys):
    """Refuse keys that collide in a hash table: building a dict or set of n colliding keys costs n² time."""
    counts = {}
    for key in keys:
        digest = hash(key)
        counts[digest] = counts.get(digest, 0) + 1
        if counts[digest] > MAX_SAME_HASH:
            raise ValueError("keys whose hashes collide")


def _ndarray(dtype, shape, flat, decode):

    numpy = sys.modules.get("numpy")
    if numpy is None:
        import numpy
    if (
        type(dtype) is not str
        or not re.fullmatch(r"[<>|=]?[biufc][0-9]{1,2}", dtype)
        or type(shape) is not list
        or not all(type(n) is int and 0 <= n for n in shape)
        or len(shape) > 32
        or type(flat) is not list
    ):
        raise ValueError("malformed array")
    size = 1
    for n in shape:
        size *= n
    if size != len(flat):
        raise ValueError("malformed array")
    return numpy.array([decode(item) for item in flat], dtype=numpy.dtype(dtype)).reshape(shape)
