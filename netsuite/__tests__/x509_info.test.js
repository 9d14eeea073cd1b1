// The certificate reader gives exactly what certrotor's Python code reads (fixtures/expected.json).
const fs = require('node:fs');
const path = require('node:path');
const nodeCrypto = require('node:crypto');
const x509 = require('SuiteScripts/certrotor/lib/x509_info');

const FIXTURES = path.join(__dirname, 'fixtures');
const expected = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'expected.json'), 'utf8'));

describe('describeCertificate', () => {
    test.each(Object.keys(expected))('%s reads as certrotor reads it', (name) => {
        const [der] = x509.pemCertificates(fs.readFileSync(path.join(FIXTURES, name), 'utf8'));
        const facts = x509.describeCertificate(der);
        const want = expected[name];
        expect({ subject: facts.subject, issuer: facts.issuer, not_before: facts.notBefore, not_after: facts.notAfter, certificate: facts.pem })
            .toEqual({ subject: want.subject, issuer: want.issuer, not_before: want.not_before, not_after: want.not_after, certificate: want.certificate });
        if (['RSA', 'EC'].includes(facts.keyType)) expect([facts.keyType, facts.keySize]).toEqual([want.key_type, want.key_size]);
        expect(nodeCrypto.createHash('sha256').update(Buffer.from(der)).digest('hex')).toBe(want.fingerprint_sha256);
    });

    test('bytes that are no certificate are refused', () => {
        expect(() => x509.describeCertificate([0x30, 0x03, 0x02, 0x01, 0x01])).toThrow(x509.CertificateFormatError);
        expect(() => x509.describeCertificate([0x04, 0x00])).toThrow(x509.CertificateFormatError);
        expect(() => x509.base64ToBytes('a!b=')).toThrow(x509.CertificateFormatError);
    });

    test('base64 round-trips', () => {
        const bytes = Array.from(nodeCrypto.randomBytes(100));
        for (let n = 0; n < 5; n += 1) expect(x509.base64ToBytes(x509.bytesToBase64(bytes.slice(n)))).toEqual(bytes.slice(n));
    });
});
