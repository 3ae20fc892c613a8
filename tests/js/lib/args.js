// Small command-line parser shared by the test peers: `--name value` options, boolean flags and
// repeatable options, with a clear error for anything unknown so a typo in a test script fails
// loudly instead of silently using a default.
'use strict';

/**
 * Parses argv against a spec: { name: {type: 'string'|'int'|'number'|'flag', repeat, def} }.
 * Throws an Error with a usage hint on unknown options or bad values.
 */
function parseArgs(argv, spec, usage) {
    const out = {};
    for (const [name, opt] of Object.entries(spec)) {
        if (opt.repeat) {
            out[name] = [];
        } else if (opt.type === 'flag') {
            out[name] = false;
        } else if (opt.def !== undefined) {
            out[name] = opt.def;
        }
    }

    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        if (arg === '--help' || arg === '-h') {
            process.stdout.write(usage + '\n');
            process.exit(0);
        }
        if (!arg.startsWith('--')) {
            throw new Error(`unexpected argument '${arg}'\n${usage}`);
        }
        let name = arg.slice(2);
        let value;
        const eq = name.indexOf('=');
        if (eq >= 0) {
            value = name.slice(eq + 1);
            name = name.slice(0, eq);
        }
        const opt = spec[name];
        if (!opt) {
            throw new Error(`unknown option --${name}\n${usage}`);
        }
        if (opt.type === 'flag') {
            out[name] = true;
            continue;
        }
        if (value === undefined) {
            if (i + 1 >= argv.length) {
                throw new Error(`option --${name} needs a value`);
            }
            value = argv[++i];
        }
        const parsed = convert(name, opt, value);
        if (opt.repeat) {
            out[name].push(parsed);
        } else {
            out[name] = parsed;
        }
    }

    for (const [name, opt] of Object.entries(spec)) {
        if (opt.required && (out[name] === undefined || out[name].length === 0)) {
            throw new Error(`option --${name} is required\n${usage}`);
        }
    }
    return out;
}

function convert(name, opt, value) {
    if (opt.type === 'int' || opt.type === 'number') {
        const n = Number(value);
        if (value === '' || !Number.isFinite(n) || (opt.type === 'int' && !Number.isInteger(n))) {
            throw new Error(`option --${name}: '${value}' is not a valid ${opt.type}`);
        }
        if (opt.min !== undefined && n < opt.min) {
            throw new Error(`option --${name}: ${n} is below the minimum ${opt.min}`);
        }
        return n;
    }
    if (opt.choices && !opt.choices.includes(value)) {
        throw new Error(`option --${name}: '${value}' is not one of ${opt.choices.join(', ')}`);
    }
    return value;
}

module.exports = { parseArgs };
