/**
 * Public facts of an X.509 certificate (subject, issuer, validity, key), read from PEM or DER.
 * Pure JavaScript: SuiteScript has no certificate parser, and these facts must read exactly as
 * certrotor's Python side writes them (RFC 4514 names as pyca/cryptography formats them).
 *
 * @NApiVersion 2.1
 * @NModuleScope SameAccount
 */
define([], () => {
    const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----/g;
    const PEM_PRIVATE_KEY = /-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----[\s\S]+?-----END \1-----/g;

    const NAME_SHORT = {
        '2.5.4.3': 'CN',
        '2.5.4.7': 'L',
        '2.5.4.8': 'ST',
        '2.5.4.10': 'O',
        '2.5.4.11': 'OU',
        '2.5.4.6': 'C',
        '2.5.4.9': 'STREET',
        '0.9.2342.19200300.100.1.25': 'DC',
        '0.9.2342.19200300.100.1.1': 'UID',
    };
    const RSA_ENCRYPTION = '1.2.840.113549.1.1.1';
    const EC_PUBLIC_KEY = '1.2.840.10045.2.1';
    const CURVES = {
        '1.2.840.10045.3.1.7': { name: 'secp256r1', bits: 256 },
        '1.3.132.0.34': { name: 'secp384r1', bits: 384 },
        '1.3.132.0.35': { name: 'secp521r1', bits: 521 },
        '1.3.132.0.10': { name: 'secp256k1', bits: 256 },
        '1.2.840.10045.3.1.1': { name: 'secp192r1', bits: 192 },
        '1.3.132.0.33': { name: 'secp224r1', bits: 224 },
    };
    const OTHER_KEY_TYPES = {
        '1.3.101.112': 'Ed25519',
        '1.3.101.113': 'Ed448',
        '1.2.840.10040.4.1': 'DSA',
    };

    class CertificateFormatError extends Error {}

    function base64ToBytes(text) {
        const clean = String(text).replace(/\s+/g, '');
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 === 1) {
            throw new CertificateFormatError('not base64');
        }
        const bytes = [];
        let buffer = 0;
        let bits = 0;
        for (const char of clean.replace(/=+$/, '')) {
            buffer = (buffer << 6) | BASE64.indexOf(char);
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                bytes.push((buffer >> bits) & 0xff);
            }
        }
        return bytes;
    }

    function bytesToBase64(bytes) {
        let out = '';
        for (let i = 0; i < bytes.length; i += 3) {
            const chunk = (bytes[i] << 16) | ((bytes[i + 1] || 0) << 8) | (bytes[i + 2] || 0);
            out += BASE64[(chunk >> 18) & 63] + BASE64[(chunk >> 12) & 63];
            out += i + 1 < bytes.length ? BASE64[(chunk >> 6) & 63] : '=';
            out += i + 2 < bytes.length ? BASE64[chunk & 63] : '=';
        }
        return out;
    }

    /** One DER element at `offset`: tag, the content's bounds, and where the next element starts. */
    function readElement(bytes, offset) {
        if (offset + 2 > bytes.length) throw new CertificateFormatError('truncated DER');
        const tag = bytes[offset];
        let length = bytes[offset + 1];
        let start = offset + 2;
        if (length & 0x80) {
            const count = length & 0x7f;
            if (count === 0 || count > 4 || start + count > bytes.length) throw new CertificateFormatError('bad DER length');
            length = 0;
            for (let i = 0; i < count; i += 1) length = length * 256 + bytes[start + i];
            start += count;
        }
        const end = start + length;
        if (end > bytes.length) throw new CertificateFormatError('truncated DER');
        return { tag, start, end, next: end };
    }

    function children(bytes, element) {
        const items = [];
        let offset = element.start;
        while (offset < element.end) {
            const item = readElement(bytes, offset);
            items.push(item);
            offset = item.next;
        }
        return items;
    }

    function oidString(bytes, element) {
        const parts = [];
        let value = 0;
        for (let i = element.start; i < element.end; i += 1) {
            value = value * 128 + (bytes[i] & 0x7f);
            if (!(bytes[i] & 0x80)) {
                if (parts.length === 0) {
                    const first = value < 80 ? Math.floor(value / 40) : 2;
                    parts.push(first, value - first * 40);
                } else {
                    parts.push(value);
                }
                value = 0;
            }
        }
        return parts.join('.');
    }

    function utf8Decode(bytes) {
        let out = '';
        for (let i = 0; i < bytes.length; ) {
            const byte = bytes[i];
            let code;
            let extra;
            if (byte < 0x80) [code, extra] = [byte, 0];
            else if (byte >= 0xf0) [code, extra] = [byte & 0x07, 3];
            else if (byte >= 0xe0) [code, extra] = [byte & 0x0f, 2];
            else [code, extra] = [byte & 0x1f, 1];
            for (let k = 1; k <= extra; k += 1) code = (code << 6) | (bytes[i + k] & 0x3f);
            out += String.fromCodePoint(code);
            i += extra + 1;
        }
        return out;
    }

    function stringValue(bytes, element) {
        const raw = bytes.slice(element.start, element.end);
        switch (element.tag) {
            case 0x1e: { // BMPString: UTF-16BE
                let out = '';
                for (let i = 0; i + 1 < raw.length; i += 2) out += String.fromCharCode((raw[i] << 8) | raw[i + 1]);
                return out;
            }
            case 0x1c: { // UniversalString: UTF-32BE
                let out = '';
                for (let i = 0; i + 3 < raw.length; i += 4) {
                    out += String.fromCodePoint(((raw[i] << 24) | (raw[i + 1] << 16) | (raw[i + 2] << 8) | raw[i + 3]) >>> 0);
                }
                return out;
            }
            case 0x14: // TeletexString, read as Latin-1 like pyca/cryptography
                return String.fromCharCode(...raw);
            default: // UTF8String, PrintableString, IA5String, VisibleString, NumericString
                return utf8Decode(raw);
        }
    }

    /** pyca/cryptography's RFC 4514 escaping of one attribute value. */
    function escapeDnValue(value) {
        if (!value) return '';
        let out = value
            .replace(/\\/g, '\\\\')
            .replace(/"/g, '\\"')
            .replace(/\+/g, '\\+')
            .replace(/,/g, '\\,')
            .replace(/;/g, '\\;')
            .replace(/</g, '\\<')
            .replace(/>/g, '\\>')
            .replace(/\0/g, '\\00');
        if (out[0] === '#' || (out[0] === ' ' && out.length > 1)) out = `\\${out}`;
        if (out[out.length - 1] === ' ') out = `${out.slice(0, -1)}\\ `;
        return out;
    }

    /** A Name as RFC 4514 text: last RDN first, attributes of one RDN joined by '+'. */
    function nameString(bytes, element) {
        const rdns = children(bytes, element).map((rdn) =>
            children(bytes, rdn)
                .map((attribute) => {
                    const [oid, value] = children(bytes, attribute);
                    const oidText = oidString(bytes, oid);
                    return `${NAME_SHORT[oidText] || oidText}=${escapeDnValue(stringValue(bytes, value))}`;
                })
                .join('+'),
        );
        return rdns.reverse().join(',');
    }

    function pad(number) {
        return String(number).padStart(2, '0');
    }

    /** UTCTime or GeneralizedTime as ISO 8601 UTC without fractions: 2026-01-31T12:00:00Z. */
    function timeString(bytes, element) {
        const text = String.fromCharCode(...bytes.slice(element.start, element.end));
        const match = element.tag === 0x17
            ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
            : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.\d+)?Z$/.exec(text);
        if (!match) throw new CertificateFormatError(`unreadable time ${text}`);
        let year = Number(match[1]);
        if (element.tag === 0x17) year += year < 50 ? 2000 : 1900;
        return `${year}-${match[2]}-${match[3]}T${match[4]}:${match[5]}:${match[6]}Z`;
    }

    function bitLength(bytes, element) {
        let start = element.start;
        while (start < element.end && bytes[start] === 0) start += 1;
        if (start === element.end) return 0;
        return (element.end - start - 1) * 8 + Math.floor(Math.log2(bytes[start])) + 1;
    }

    function publicKeyFacts(bytes, spki) {
        const [algorithm, bitString] = children(bytes, spki);
        const [oid, parameters] = children(bytes, algorithm);
        const algorithmOid = oidString(bytes, oid);
        if (algorithmOid === RSA_ENCRYPTION) {
            // BIT STRING: one byte of unused bits, then RSAPublicKey ::= SEQUENCE { modulus, exponent }
            const inner = readElement(bytes, bitString.start + 1);
            const [modulus] = children(bytes, inner);
            return { keyType: 'RSA', keySize: bitLength(bytes, modulus), curve: null };
        }
        if (algorithmOid === EC_PUBLIC_KEY) {
            const curveOid = parameters && parameters.tag === 0x06 ? oidString(bytes, parameters) : '';
            const curve = CURVES[curveOid] || { name: curveOid || 'explicit', bits: 0 };
            return { keyType: 'EC', keySize: curve.bits, curve: curve.name };
        }
        return { keyType: OTHER_KEY_TYPES[algorithmOid] || algorithmOid, keySize: 0, curve: null };
    }

    /** The certificate blocks of a PEM text, each as DER bytes. */
    function pemCertificates(text) {
        const blocks = [];
        for (const match of String(text).matchAll(PEM_CERTIFICATE)) blocks.push(base64ToBytes(match[1]));
        return blocks;
    }

    function pemPrivateKeyCount(text) {
        return Array.from(String(text).matchAll(PEM_PRIVATE_KEY)).length;
    }

    function certificatePem(der) {
        const lines = bytesToBase64(der).match(/.{1,64}/g) || [];
        return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
    }

    /**
     * The facts certrotor reports about a certificate (DER bytes): names, validity, key.
     * Throws CertificateFormatError when the bytes are no X.509 certificate.
     */
    function describeCertificate(der) {
        try {
            const certificate = readElement(der, 0);
            if (certificate.tag !== 0x30 || certificate.end !== der.length) throw new CertificateFormatError('not a certificate');
            const [tbs] = children(der, certificate);
            const fields = children(der, tbs);
            const offset = fields[0].tag === 0xa0 ? 1 : 0; // [0] version is optional
            const issuer = fields[offset + 2];
            const validity = children(der, fields[offset + 3]);
            const subject = fields[offset + 4];
            const key = publicKeyFacts(der, fields[offset + 5]);
            return {
                subject: nameString(der, subject),
                issuer: nameString(der, issuer),
                notBefore: timeString(der, validity[0]),
                notAfter: timeString(der, validity[1]),
                keyType: key.keyType,
                keySize: key.keySize,
                curve: key.curve,
                pem: certificatePem(der),
                base64: bytesToBase64(der),
            };
        } catch (error) {
            if (error instanceof CertificateFormatError) throw error;
            throw new CertificateFormatError(`unreadable certificate: ${error.message}`);
        }
    }

    return {
        CertificateFormatError,
        base64ToBytes,
        bytesToBase64,
        certificatePem,
        describeCertificate,
        escapeDnValue,
        pemCertificates,
        pemPrivateKeyCount,
    };
});
