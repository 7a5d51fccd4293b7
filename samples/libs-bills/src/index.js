// A sample konnector written the way public Cozy konnectors are, with
// cozy-konnector-libs: `konnector build` bundles the engine's own
// implementation of that module instead of the npm package.
//
// It signs in to its vendor's customer area with the login form, scrapes
// the pages of bills, and lets saveBills download each bill's PDF into the
// account's folder and save the bills, each linked to its file. A second
// run finds the same bills and files and writes nothing.
//
// Like js-bills it hard-codes its vendor's URL; `konnector run` reaches
// the local fixture site with --connect-to, --allow-private and --ca-file.

const {
  BaseKonnector,
  requestFactory,
  signin,
  scrape,
  saveBills,
  log,
  utils,
  cozyClient
} = require('cozy-konnector-libs')

const models = cozyClient.new.models
const { Qualification } = models.document

const request = requestFactory({
  cheerio: true,
  json: false,
  jar: true
})

const VENDOR = 'libs-bills'
const baseUrl = 'https://vendor.example'

// Maximum number of bill pages read, in case the site links pages in a
// loop.
const MAX_PAGES = 100

module.exports = new BaseKonnector(start)

// BaseKonnector passes the account's fields: login, password and
// folderPath.
async function start(fields) {
  log('info', 'Authenticating ...')
  await authenticate(fields.login, fields.password)
  log('info', 'Successfully logged in')

  log('info', 'Fetching the list of bills')
  const documents = []
  let url = `${baseUrl}/bills?page=1`
  for (let page = 0; url && page < MAX_PAGES; page++) {
    const $ = await request(url)
    documents.push(...parseBills($))
    const next = $('a.next').attr('href')
    url = next ? new URL(next, url).href : undefined
  }
  log('info', `Found ${documents.length} bills`)

  log('info', 'Saving data to Cozy')
  await saveBills(documents, fields, {
    identifiers: ['example vendor'],
    contentType: 'application/pdf',
    fileIdAttributes: ['vendorRef']
  })
}

// Signs in with the site's form, whose hidden csrf field signin sends
// along. After a valid login, the site redirects to the bills.
function authenticate(login, password) {
  return signin({
    url: `${baseUrl}/login`,
    formSelector: '#login-form',
    formData: { login, password },
    validate: (statusCode, $, fullResponse) => {
      if (new URL(fullResponse.request.uri.href).pathname === '/bills') {
        return true
      }
      log('error', $('.error').text())
      return false
    }
  })
}

// Reads the bills of one page of the list.
function parseBills($) {
  const bills = scrape(
    $,
    {
      vendorRef: { attr: 'data-id' },
      date: { attr: 'data-date', parse: (text) => new Date(text) },
      amount: { attr: 'data-amount', parse: parseFloat },
      label: '.label',
      fileurl: {
        sel: 'a.pdf',
        attr: 'href',
        parse: (href) => new URL(href, baseUrl).href
      }
    },
    'li.bill'
  )
  return bills.map((bill) => ({
    ...bill,
    currency: '€',
    vendor: VENDOR,
    filename: `${utils.formatDate(bill.date)}_${VENDOR}_${bill.amount.toFixed(2)}EUR.pdf`,
    fileAttributes: {
      metadata: {
        contentAuthor: VENDOR,
        qualification: Qualification.getByLabel('other_invoice')
      }
    }
  }))
}
