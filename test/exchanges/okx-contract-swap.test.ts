import { okxContract } from './okx-contract.js'

okxContract('swap')
