// Drives @brokenrubik/netsuite-sdk (unchanged) against certrotor's NetSuite emulator and prints what
// happened as one JSON line. Only the transport is touched: fetch sends NetSuite's hosts to the emulator.
'use strict';

const fs = require('node:fs');
const { NetSuiteClient } = require('@brokenrubik/netsuite-sdk');

const emulator = process.env.EMULATOR_URL;
const netsuiteHost = /^https:\/\/[a-z0-9-]+\.(suitetalk|restlets)\.api\.netsuite\.com(?=\/)/;
const seenHosts = new Set();
const realFetch = globalThis.fetch;
globalThis.fetch = (url, init) => {
  const text = String(url);
  if (text.startsWith(emulator + '/')) return realFetch(text, init); // links the emulator answered with
  const match = netsuiteHost.exec(text);
  if (!match) throw new Error(`unexpected URL ${text}`);
  seenHosts.add(match[1]);
  return realFetch(emulator + text.slice(match[0].length), init);
};

async function refusal(call) {
  try {
    await call();
    return null;
  } catch (error) {
    const detail = error.body && error.body['o:errorDetails'] ? error.body['o:errorDetails'][0] : {};
    return { name: error.name, status: error.status, code: detail['o:errorCode'] || null };
  }
}

async function main() {
  const clientId = process.env.CLIENT_ID;
  const client = new NetSuiteClient({
    accountId: process.env.ACCOUNT_ID,
    clientId,
    certificateId: process.env.CERTIFICATE_ID,
    privateKey: fs.readFileSync(process.env.PRIVATE_KEY_FILE, 'utf-8'),
    maxRetries: 0,
  });
  const certificates = `/services/rest/auth/oauth2/v1/clients/${encodeURIComponent(clientId)}/certificates`;
  const result = {};

  // The SDK's default for the restlets host is a restlets-only token: NetSuite refuses it here.
  result.restletsTokenOnCertificates = await refusal(() =>
    client.request(certificates, 'GET', { baseHost: 'restlets' }),
  );
  const listed = await client.request(certificates, 'GET');
  result.listedIds = listed.map((item) => item.certificate_id);
  const uploaded = await client.request(certificates, 'POST', {
    body: {
      fileContent: fs.readFileSync(process.env.UPLOAD_PEM_FILE, 'utf-8'),
      role: Number(process.env.ROLE_ID),
      entity: String(process.env.ENTITY_ID),
    },
  });
  result.uploadedId = uploaded.certificate_id;
  result.revoked = await client.request(`${certificates}/${encodeURIComponent(uploaded.certificate_id)}/revoke`, 'POST');
  const after = await client.request(certificates, 'GET');
  result.revokedFlag = after.find((item) => item.certificate_id === uploaded.certificate_id).revoked;

  const customer = await client.getRecord('customer', '42');
  result.customer = { id: customer.id, companyName: customer.companyName };
  const created = await client.createRecord('customer', { companyName: 'Interop Ltd' });
  result.created = { id: created.id, success: created.success };
  await client.updateRecord('customer', created.id, { email: 'ops@interop.example' });
  result.updatedEmail = (await client.getRecord('customer', created.id)).email;
  const page = await client.listRecords('customer', { limit: 2 });
  result.listPage = { count: page.count, hasMore: page.hasMore, totalResults: page.totalResults };
  result.allCustomers = (await client.listAllRecords('customer')).length;
  const rows = await client.suiteql(`SELECT id, companyname FROM customer WHERE id = ${created.id}`);
  result.suiteql = rows.items;
  result.metadata = (await client.getMetadata()).items.map((item) => item.name);
  await client.deleteRecord('customer', created.id);
  result.afterDelete = await refusal(() => client.getRecord('customer', created.id));
  result.hosts = [...seenHosts].sort();
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((error) => {
  process.stderr.write(`${error.name}: ${error.message}\n`);
  process.exit(1);
});
